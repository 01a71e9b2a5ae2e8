"""FATE's standalone storage for ferroflow: tables in the format pyfate 2.2 reads and writes.

ferroflow's `ferroflow` binary runs this file (embedded in it) with the Python of the `fate`
provider, whose environment has what the format needs: `lmdb` (the C library's binding pyfate
uses) and `mmh3`. Nothing here imports fate_flow or pyfate.

The format (pyfate `fate/arch/computing/backends/standalone/_standalone.py`):
- a table `<namespace>/<name>` with N partitions is N LMDB environments
  `<data_dir>/<namespace>/<name>/<p>`, each one unnamed database of key/value bytes;
- its meta is a 16-byte value (partitions, key serdes type, value serdes type, partitioner
  type: four big-endian u32) under the key `<name>.<namespace>` in the LMDB environment
  `<data_dir>/__META__/fragments/<sha256(key) mod 11>`;
- FATE Flow's upload writes keys and values as pickled `str` (serdes type 0) placed by
  `mmh3.hash(key bytes) mod N` (partitioner type 0);
- pyfate's dataframes are tables whose values are pickled lists of rows.

With `--format localfs`, a table is FATE's `file` storage, which pyfate's Spark backend reads
and writes (`fate/arch/computing/backends/spark/_table.py`): a directory
`<data_dir>/<namespace>/<name>` of text files `part-NNNNN` (Spark adds `_SUCCESS` and `.crc`
files), one line per pair: the hex of (key length as a big-endian u64, key bytes, value
bytes), keys and values serialized as in the standalone format; no meta.

Commands (JSON on stdout, errors on stderr with exit status 1):
  upload   --data-dir D --namespace NS --name N --file F --partitions P --meta JSON
           [--head] [--extend-sid]
           a delimited text file -> a `table` as FATE Flow's `upload` component writes it;
           prints {count, data_meta, part_of_data}
  export   --data-dir D --namespace NS --name N --out F [--delimiter C] [--header LINE]
           a table's rows as text, `key<delimiter>value` lines for key/value tables, the rows
           of every block for dataframes; prints {count}
  destroy  --data-dir D --namespace NS --name N      the table and its meta; prints {destroyed}
  count    --data-dir D --namespace NS --name N      prints {count, partitions}
"""

import argparse
import hashlib
import json
import os
import pickle
import secrets
import shutil
import struct
import sys
from pathlib import Path

META_NAMESPACE = "__META__"
META_NAME = "fragments"
META_PARTITIONS = 11
MAP_SIZE = 10_737_418_240
# Rows kept as the table's sample (FATE: the first 100 key/value pairs).
PART_OF_DATA = 100
# Rows written per LMDB transaction.
BATCH = 10_000


def _lmdb():
    import lmdb

    return lmdb


def open_env(path, write=False):
    path.mkdir(parents=True, exist_ok=True)
    return _lmdb().open(
        path.as_posix(), create=True, max_dbs=1, max_readers=1024, lock=write, sync=True, map_size=MAP_SIZE
    )


def _meta_key(namespace, name):
    k = f"{name}.{namespace}".encode("utf-8")
    return k, int.from_bytes(hashlib.sha256(k).digest(), "big") % META_PARTITIONS


def _meta_env(data_dir, namespace, name, write=False):
    k, p = _meta_key(namespace, name)
    return k, open_env(Path(data_dir, META_NAMESPACE, META_NAME, str(p)), write=write)


def get_meta(data_dir, namespace, name):
    """(partitions, key serdes, value serdes, partitioner) or None."""
    k, p = _meta_key(namespace, name)
    path = Path(data_dir, META_NAMESPACE, META_NAME, str(p))
    if not path.is_dir():
        return None
    k, env = _meta_env(data_dir, namespace, name)
    with env:
        with env.begin() as txn:
            v = txn.get(k)
    return None if v is None else struct.unpack(">IIII", bytes(v[:16]))


def put_meta(data_dir, namespace, name, partitions, key_serdes=0, value_serdes=0, partitioner=0):
    k, env = _meta_env(data_dir, namespace, name, write=True)
    with env:
        with env.begin(write=True) as txn:
            txn.put(k, struct.pack(">IIII", partitions, key_serdes, value_serdes, partitioner))


def destroy(data_dir, namespace, name):
    """Removes a table and its meta; True if it existed."""
    existed = get_meta(data_dir, namespace, name) is not None
    if existed:
        k, env = _meta_env(data_dir, namespace, name, write=True)
        with env:
            with env.begin(write=True) as txn:
                txn.delete(k)
    path = Path(data_dir, namespace, name)
    existed = existed or path.exists()
    shutil.rmtree(path, ignore_errors=True)
    return existed


def _localfs_encode(key, value):
    return (struct.pack(">Q", len(key)) + key + value).hex()


def _localfs_decode(line):
    data = bytes.fromhex(line.strip())
    size = struct.unpack(">Q", data[:8])[0]
    return data[8 : 8 + size], data[8 + size :]


def _localfs_parts(data_dir, namespace, name):
    path = Path(data_dir, namespace, name)
    if not path.is_dir():
        raise ValueError(f"no table {namespace}.{name} in {data_dir}")
    return sorted(p for p in path.iterdir() if p.name.startswith("part-") and not p.name.endswith(".crc"))


class LocalfsWriter:
    """Pairs spread over the text files of one `file` table."""

    def __init__(self, data_dir, namespace, name, partitions):
        self.path = Path(data_dir, namespace, name)
        self.path.mkdir(parents=True, exist_ok=False)
        self.partitions = partitions
        self.files = [open(self.path / f"part-{p:05d}", "w", encoding="ascii") for p in range(partitions)]

    def put(self, key, value):
        k = pickle.dumps(key)
        self.files[partition_of(k, self.partitions)].write(_localfs_encode(k, pickle.dumps(value)) + "\n")

    def close(self):
        for f in self.files:
            f.close()
        (self.path / "_SUCCESS").touch()


def partition_of(key_bytes, partitions):
    import mmh3

    return mmh3.hash(key_bytes) % partitions


def _rows(path):
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            yield line


def header_schema(header_line, delimiter, sample_id_name, extend_sid):
    """FATE Flow's `Upload.get_header_schema`: (schema, index of the id column)."""
    index = 0
    if extend_sid:
        sample_id_name = "extend_sid"
        header = delimiter.join([sample_id_name, header_line]).strip()
    else:
        columns = header_line.split(delimiter)
        if not sample_id_name:
            sample_id_name = columns[0]
        else:
            if sample_id_name not in header_line:
                raise ValueError(f"No found sample id {sample_id_name} in header")
            index = columns.index(sample_id_name)
            if index > 0:
                header_line = delimiter.join(
                    [columns[index], delimiter.join(columns[:index]), delimiter.join(columns[index + 1 :])]
                ).strip(delimiter)
        header = header_line.strip()
    return {"header": header, "sample_id_name": sample_id_name}, index


def key_value(values, delimiter, index):
    """FATE Flow's `Upload.get_data_line`: the id, and the rest of the line."""
    if index:
        k = values[index]
        v = delimiter.join([delimiter.join(values[:index]), delimiter.join(values[index + 1 :])]).strip(delimiter)
    else:
        k = values[0]
        v = delimiter.join(map(str, values[1:]))
    return k, v


class Writer:
    """Batched puts into the partitions of one table."""

    def __init__(self, data_dir, namespace, name, partitions):
        self.partitions = partitions
        base = Path(data_dir, namespace, name)
        self.envs = [open_env(base / str(p), write=True) for p in range(partitions)]
        self.pending = [[] for _ in range(partitions)]
        self.buffered = 0

    def put(self, key, value):
        k = pickle.dumps(key)
        self.pending[partition_of(k, self.partitions)].append((k, pickle.dumps(value)))
        self.buffered += 1
        if self.buffered >= BATCH:
            self.flush()

    def flush(self):
        for env, items in zip(self.envs, self.pending):
            if items:
                with env.begin(write=True) as txn:
                    for k, v in items:
                        txn.put(k, v)
                items.clear()
        self.buffered = 0

    def close(self):
        self.flush()
        for env in self.envs:
            env.close()


def upload(data_dir, namespace, name, file, partitions, meta, head, extend_sid, localfs=False):
    """What FATE Flow's `upload` component stores for a file (execution.md §6.1)."""
    delimiter = meta.get("delimiter") or ","
    if localfs:
        shutil.rmtree(Path(data_dir, namespace, name), ignore_errors=True)
    else:
        destroy(data_dir, namespace, name)
    data_meta = {k: v for k, v in meta.items() if v is not None}
    data_meta.setdefault("delimiter", delimiter)
    lines = _rows(file)
    index = 0
    if head:
        first = next(lines, None)
        if first is None:
            raise ValueError(f"{file} is empty")
        schema, index = header_schema(first, delimiter, meta.get("sample_id_name"), extend_sid)
        data_meta.update(schema)
    if localfs:
        writer = LocalfsWriter(data_dir, namespace, name, partitions)
    else:
        put_meta(data_dir, namespace, name, partitions)
        writer = Writer(data_dir, namespace, name, partitions)
    part_of_data = []
    count = 0
    sid_prefix = secrets.token_bytes(16).hex()
    try:
        for line in lines:
            values = line.rstrip().split(delimiter)
            if extend_sid:
                k, v = sid_prefix + str(count), delimiter.join(values)
            else:
                k, v = key_value(values, delimiter, index)
            writer.put(k, v)
            count += 1
            if count <= PART_OF_DATA:
                part_of_data.append([k, v])
    finally:
        writer.close()
    return {"count": count, "data_meta": data_meta, "part_of_data": part_of_data}


def collect(data_dir, namespace, name, localfs=False):
    """(key bytes, value bytes) of every partition, partition by partition, keys in order."""
    if localfs:
        # No meta: the serdes types are told by the bytes (pickles start with 0x80).
        for part in _localfs_parts(data_dir, namespace, name):
            with open(part, "r", encoding="ascii") as f:
                for line in f:
                    if line.strip():
                        k, v = _localfs_decode(line)
                        yield (0 if k[:1] == b"\x80" else 1), (0 if v[:1] == b"\x80" else 1), k, v
        return
    meta = get_meta(data_dir, namespace, name)
    if meta is None:
        raise ValueError(f"no table {namespace}.{name} in {data_dir}")
    partitions, key_serdes, value_serdes, _ = meta
    for p in range(partitions):
        path = Path(data_dir, namespace, name, str(p))
        if not path.is_dir():
            continue
        env = open_env(path)
        with env:
            with env.begin() as txn:
                for k, v in txn.cursor():
                    yield key_serdes, value_serdes, bytes(k), bytes(v)


def _decode(serdes, b):
    return int.from_bytes(b, "big") if serdes == 1 else pickle.loads(b)


def export(data_dir, namespace, name, out, delimiter=",", header=None, localfs=False):
    """The table as text: FATE Flow's `DataManager.write_data_to_file`."""
    count = 0
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        if header:
            f.write(header + "\n")
        for ks, vs, k, v in collect(data_dir, namespace, name, localfs):
            key, value = _decode(ks, k), _decode(vs, v)
            if isinstance(value, list):
                # a dataframe block: a list of rows
                for row in value:
                    f.write(delimiter.join(str(c) for c in row) + "\n")
                    count += 1
            else:
                f.write(f"{key}{delimiter}{value}\n")
                count += 1
    return {"count": count}


def count(data_dir, namespace, name, localfs=False):
    if localfs:
        parts = _localfs_parts(data_dir, namespace, name)
        n = 0
        for part in parts:
            with open(part, "rb") as f:
                n += sum(1 for line in f if line.strip())
        return {"count": n, "partitions": len(parts)}
    meta = get_meta(data_dir, namespace, name)
    if meta is None:
        raise ValueError(f"no table {namespace}.{name} in {data_dir}")
    n = 0
    for p in range(meta[0]):
        path = Path(data_dir, namespace, name, str(p))
        if path.is_dir():
            env = open_env(path)
            with env:
                n += env.stat()["entries"]
    return {"count": n, "partitions": meta[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ferroflow_fate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in ("upload", "export", "destroy", "count"):
        p = sub.add_parser(cmd)
        p.add_argument("--data-dir", required=True)
        p.add_argument("--namespace", required=True)
        p.add_argument("--name", required=True)
        p.add_argument("--format", choices=("standalone", "localfs"), default="standalone")
        if cmd == "upload":
            p.add_argument("--file", required=True)
            p.add_argument("--partitions", type=int, default=16)
            p.add_argument("--meta", default="{}")
            p.add_argument("--head", action="store_true")
            p.add_argument("--extend-sid", action="store_true")
        if cmd == "export":
            p.add_argument("--out", required=True)
            p.add_argument("--delimiter", default=",")
            p.add_argument("--header", default=None)
    a = parser.parse_args(argv)
    localfs = a.format == "localfs"
    try:
        if a.command == "upload":
            if a.partitions < 1:
                raise ValueError(f"partitions must be at least 1, got {a.partitions}")
            result = upload(
                a.data_dir,
                a.namespace,
                a.name,
                a.file,
                a.partitions,
                json.loads(a.meta),
                a.head,
                a.extend_sid,
                localfs,
            )
        elif a.command == "export":
            result = export(a.data_dir, a.namespace, a.name, a.out, a.delimiter, a.header, localfs)
        elif a.command == "destroy" and localfs:
            path = Path(a.data_dir, a.namespace, a.name)
            existed = path.exists()
            shutil.rmtree(path, ignore_errors=True)
            result = {"destroyed": existed}
        elif a.command == "destroy":
            result = {"destroyed": destroy(a.data_dir, a.namespace, a.name)}
        else:
            result = count(a.data_dir, a.namespace, a.name, localfs)
    except Exception as e:  # the caller reports the message
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
