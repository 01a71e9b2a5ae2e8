#!/usr/bin/env python3
"""Import circles among the modules of each crate.

A module is one source file (`a/b.rs` or `a/b/mod.rs` is `a::b`). An edge a → b is any
path in a's text (a `use` tree, or a path written inline, through a `use`d module alias)
that names b or an item in b; a `mod b;` declaration is not an edge, nor a path from a
module to its ancestors' items (a child's `super::Error`) — the declaring parent may use
its children. Prints every strongly connected component with more than one module and
exits 1 if there is any. Usage: ci/module-cycles.py [crate dirs...] (default: all crates).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def modules(src):
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            mods[tuple(rel)] = os.path.join(dirpath, f)
    return mods


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def expand(tree):
    """`a::{b, c::{d}}` → [a::b, a::c::d]."""
    tree = tree.strip()
    i = tree.find("{")
    if i < 0:
        return [re.sub(r"\s+as\s+\w+$", "", tree).strip()]
    prefix, body = tree[:i], tree[i + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            out += [prefix + e for e in expand(p)]
    return out


def resolve(path, here, mods):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(here)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    full = base + [s for s in segs if s != "self"]
    for n in range(len(full), -1, -1):
        if tuple(full[:n]) in mods:
            return tuple(full[:n])
    return None


def edges(mods):
    graph = {m: set() for m in mods}
    for here, file in mods.items():
        text = strip(open(file, encoding="utf-8").read())
        aliases = {}
        for stmt in re.findall(r"\buse\s+([^;]+);", text):
            for path in expand(stmt):
                target = resolve(path, here, mods)
                if target is None:
                    continue
                graph[here].add(target)
                # `use crate::run;` (or `…::run as r`): later `run::x` paths name `run`'s items.
                if target and path.split("::")[-1] == target[-1]:
                    aliases[target[-1]] = target
        for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text):
            target = resolve(m.group(1), here, mods)
            if target is not None:
                graph[here].add(target)
        for alias, target in aliases.items():
            for m in re.finditer(r"(?<![:\w])" + alias + r"((?:::\w+)+)", text):
                sub = "crate::" + "::".join(target) + m.group(1)
                t = resolve(sub, (), mods)
                if t is not None:
                    graph[here].add(t)
    for here in graph:
        graph[here] = {t for t in graph[here] if t != here and here[: len(t)] != t}
    return graph


def sccs(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def main():
    crates = sys.argv[1:] or sorted(
        os.path.join(d, "src")
        for d in [os.path.join(ROOT, "crates", c) for c in os.listdir(os.path.join(ROOT, "crates"))]
        + [os.path.join(ROOT, "bench")]
        if os.path.isdir(os.path.join(d, "src"))
    )
    bad = 0
    for src in crates:
        src = src if src.endswith("src") else os.path.join(src, "src")
        graph = edges(modules(src))
        for comp in sccs(graph):
            bad += 1
            names = sorted("::".join(m) or "<root>" for m in comp)
            print(f"{os.path.relpath(src, ROOT)}: circle among {', '.join(names)}")
    if bad:
        sys.exit(1)
    print("no import circle among modules")


if __name__ == "__main__":
    main()
