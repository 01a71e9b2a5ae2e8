// ferroflow's dashboard. One script for every view; the server names the view and its
// arguments in <body data-view data-args>. Every value is written as text (el() makes text
// nodes of strings, SVG labels are text nodes): task names, parameters and log lines may
// contain markup, and none of it is ever parsed as HTML.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;

// ---- DOM helpers ---------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function replace(target, ...children) {
  target.replaceChildren();
  append(target, children);
}

function badge(status) {
  const s = String(status || "unknown");
  return el("span", { class: "badge s-" + s.replace(/[^a-z]/g, ""), "data-status": s }, s);
}

function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(Number(ms));
  return isNaN(d) ? "" : d.toLocaleString();
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms === "") return "";
  if (Number(ms) < 10000) return (Math.max(0, Number(ms)) / 1000).toFixed(2) + " s";
  let s = Math.max(0, Math.round(Number(ms) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return h ? `${h}h ${m}m ${s}s` : m ? `${m}m ${s}s` : `${s}s`;
}

function duration(row) {
  if (row.elapsed) return fmtDuration(row.elapsed);
  if (row.start_time && !row.end_time) return fmtDuration(Date.now() - row.start_time);
  return "";
}

function pretty(v) {
  try { return JSON.stringify(v, null, 2); } catch (_) { return String(v); }
}

function setLive(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

// ---- client authentication (FATE's app credentials) ---------------------------------

// MD5 (RFC 1321), for FATE's client signature: md5(md5(app_id + user_name + nonce +
// timestamp) + app_token), as fate_client signs its calls.
function md5(str) {
  const bytes = new TextEncoder().encode(str);
  const n = bytes.length;
  const words = new Array((((n + 8) >> 6) + 1) * 16).fill(0);
  for (let i = 0; i < n; i++) words[i >> 2] |= bytes[i] << ((i % 4) * 8);
  words[n >> 2] |= 0x80 << ((n % 4) * 8);
  words[words.length - 2] = (n * 8) >>> 0;
  words[words.length - 1] = Math.floor(n / 0x20000000);
  const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  const K = [];
  for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
  let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
  for (let j = 0; j < words.length; j += 16) {
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
      else { f = c ^ (b | ~d); g = (7 * i) % 16; }
      const s = S[(i >> 4) * 4 + (i % 4)];
      const t = (a + f + K[i] + words[j + g]) | 0;
      a = d; d = c; c = b;
      b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
    }
    a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
  }
  return [a0, b0, c0, d0].map((x) => {
    let h = "";
    for (let i = 0; i < 4; i++) h += ((x >>> (i * 8)) & 255).toString(16).padStart(2, "0");
    return h;
  }).join("");
}

function credentials() {
  try { return JSON.parse(sessionStorage.getItem("ferroflow.credentials") || "null"); }
  catch (_) { return null; }
}

function authHeaders() {
  const c = credentials();
  if (!c || !c.app_id || !c.app_token) return {};
  const nonce = String(1000 + Math.floor(Math.random() * 9000));
  const timestamp = String(Date.now());
  const user = c.user_name || "";
  const sign = md5(md5(c.app_id + user + nonce + timestamp) + c.app_token);
  return { appId: c.app_id, userName: user, Nonce: nonce, Timestamp: timestamp, Signature: sign };
}

// ---- fetching ------------------------------------------------------------------------

const etags = new Map();

// GET with the ETag of the last answer: `changed` is false on a 304 (nothing to redraw).
async function getJSON(url) {
  const cached = etags.get(url);
  const headers = authHeaders();
  if (cached) headers["If-None-Match"] = cached.etag;
  const r = await fetch(url, { headers, cache: "no-store" });
  // Client authentication is on and this tab holds no (valid) credentials: log in first.
  if (r.status === 401 && location.pathname !== "/ui/login") location.href = "/ui/login";
  if (r.status === 304 && cached) return { changed: false, status: 200, data: cached.data };
  const data = await r.json().catch(() => null);
  const etag = r.headers.get("ETag");
  if (etag && r.ok) etags.set(url, { etag, data });
  return { changed: true, status: r.status, data };
}

// FATE's routes: the envelope's data, or an Error with FATE's code and message.
async function fate(path, params) {
  const q = new URLSearchParams(params || {}).toString();
  const r = await fetch(path + (q ? "?" + q : ""), { headers: authHeaders(), cache: "no-store" });
  const v = await r.json();
  if (v.code !== 0) throw Object.assign(new Error(v.message || "code " + v.code), { code: v.code });
  return v.data;
}

async function fatePost(path, body) {
  const headers = Object.assign({ "Content-Type": "application/json" }, authHeaders());
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  return r.json();
}

// Runs `step` now and every `ms` after the previous run ended (never two at once); a hidden
// tab asks nothing.
function every(ms, step) {
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    if (document.hidden) { setTimeout(run, ms); return; }
    try { await step(); setLive("live · " + new Date().toLocaleTimeString()); }
    catch (e) { setLive("update failed: " + e.message); }
    if (!stopped) setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; };
}

// ---- views ---------------------------------------------------------------------------

const main = document.getElementById("main");
const VIEWS = { jobs: viewJobs, job: viewJob, task: viewTask, site: viewSite, login: viewLogin,
  notfound: viewNotFound, error: viewError };

function start() {
  const view = document.body.dataset.view;
  let args = {};
  try { args = JSON.parse(document.body.dataset.args || "{}"); } catch (_) { args = {}; }
  (VIEWS[view] || viewNotFound)(args);
}

function viewNotFound(args) {
  const what = (args && args.what) || "page";
  const detail = args && args.args ? Object.entries(args.args).filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${v}`).join(", ") : "";
  document.title = "not found · ferroflow";
  replace(main, el("div", { class: "notfound", id: "not-found" },
    el("h1", {}, "Not found"),
    el("p", {}, `No ${what} here: ${detail}`),
    el("p", {}, el("a", { href: "/ui/" }, "All jobs"))));
}

function viewError(args) {
  replace(main, el("div", { class: "notfound" }, el("h1", {}, "The site could not answer"),
    el("p", {}, args.message || "")));
}

// Jobs ---------------------------------------------------------------------------------

const STATUSES = ["waiting", "ready", "running", "success", "failed", "canceled", "timeout"];

function viewJobs() {
  document.title = "jobs · ferroflow";
  const params = new URLSearchParams(location.search);
  const input = (name, label, attrs) => el("label", {}, label,
    el("input", Object.assign({ name, value: params.get(name) || "" }, attrs || {})));
  const status = el("select", { name: "status" }, el("option", { value: "" }, "any"),
    STATUSES.map((s) => el("option", { value: s, selected: params.get("status") === s }, s)));
  const form = el("form", { class: "filters", id: "filters" },
    el("label", {}, "status", status),
    input("party_id", "party", { size: 8 }),
    input("role", "role", { size: 7 }),
    input("tag", "tag", { size: 10 }),
    input("job_id", "job id starts with", { size: 20 }),
    input("since", "created after", { type: "datetime-local" }),
    input("until", "created before", { type: "datetime-local" }),
    el("button", { type: "submit" }, "Filter"));
  const table = el("tbody", { id: "jobs-body" });
  const pager = el("div", { class: "pager", id: "pager" });
  replace(main, el("h1", {}, "Jobs"), form,
    el("table", { id: "jobs" }, el("thead", {}, el("tr", {},
      ["job", "role", "party", "status", "progress", "parties", "tag", "created", "duration"]
        .map((h) => el("th", {}, h)))), table), pager);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.search = q.toString();
  });
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const api = new URLSearchParams({ page, size: 50 });
  for (const k of ["status", "party_id", "role", "tag", "job_id"]) if (params.get(k)) api.set(k, params.get(k));
  for (const k of ["since", "until"]) {
    const t = params.get(k) && Date.parse(params.get(k));
    if (t) api.set(k, t);
  }
  const url = "/ui/api/jobs?" + api.toString();
  every(POLL_MS, async () => {
    const r = await getJSON(url);
    // Unchanged data is drawn again only while a job runs (its duration grows).
    if (!r.changed && !(r.data && r.data.jobs.some((j) => j.start_time && !j.end_time))) return;
    if (r.status !== 200) throw new Error((r.data && r.data.error) || "status " + r.status);
    const { total, jobs } = r.data;
    replace(table, jobs.length ? jobs.map((j) => el("tr", { "data-job": j.job_id, "data-party": `${j.role}:${j.party_id}` },
      el("td", {}, el("a", { href: "/ui/job/" + encodeURIComponent(j.job_id) }, j.job_id)),
      el("td", {}, j.role), el("td", {}, j.party_id),
      el("td", { class: "status" }, badge(j.status)),
      el("td", {}, el("span", { class: "bar" }, el("span", { style: `width:${Math.min(100, j.progress)}%` })), ` ${j.progress}%`),
      el("td", {}, partiesText(j.parties)),
      el("td", {}, j.tag),
      el("td", {}, fmtTime(j.create_time)),
      el("td", { class: "num" }, duration(j)))) :
      el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No jobs.")));
    const pages = Math.max(1, Math.ceil(total / 50));
    const go = (p) => { const q = new URLSearchParams(location.search); q.set("page", p); return "?" + q.toString(); };
    replace(pager, page > 1 ? el("a", { href: go(page - 1) }, "‹ newer") : null,
      `page ${page} of ${pages} · ${total} rows`,
      page < pages ? el("a", { href: go(page + 1) }, "older ›") : null);
  });
}

function partiesText(parties) {
  if (!Array.isArray(parties)) return "";
  return parties.map((p) => `${p.role} ${(p.party_id || []).join(",")}`).join(" · ");
}

// A job --------------------------------------------------------------------------------

function viewJob(args) {
  const jobId = args.job_id;
  document.title = jobId + " · ferroflow";
  const head = el("div", { class: "card", id: "job-head" });
  const dag = el("div", { class: "card", id: "dag" });
  const tasks = el("div", { id: "tasks" });
  const events = el("tbody", { id: "events-body" });
  replace(main, el("h1", {}, "Job ", jobId), head, el("h2", {}, "DAG"), dag,
    el("h2", {}, "Tasks"), tasks,
    el("h2", {}, "Events"),
    el("table", { id: "events" }, el("thead", {}, el("tr", {},
      ["time", "what", "status", "cause", "detail"].map((h) => el("th", {}, h)))), events));
  let taskNames = {};
  let lastEvent = 0;
  every(POLL_MS, async () => {
    const r = await getJSON("/ui/api/job?job_id=" + encodeURIComponent(jobId));
    if (r.status === 404) { viewNotFound({ what: "job", args: { job_id: jobId } }); throw new Error("job gone"); }
    if (r.changed) {
      const d = r.data;
      for (const t of d.tasks) taskNames[t.task_id] = t.task_name;
      if (d.scheduler) for (const t of d.scheduler.tasks) taskNames[t.task_id] = t.task_name;
      renderJobHead(head, d);
      renderDag(dag, d);
      renderTasks(tasks, d);
    }
    const e = await getJSON(`/ui/api/events?job_id=${encodeURIComponent(jobId)}&after=${lastEvent}`);
    if (e.changed && e.status === 200) {
      for (const ev of e.data.events) {
        lastEvent = Math.max(lastEvent, ev.id);
        const what = ev.task_id ? `${taskNames[ev.task_id] || ev.task_id} v${ev.task_version}` : "job";
        const who = ev.role ? ` ${ev.role} ${ev.party_id}` : "";
        events.appendChild(el("tr", { "data-event": ev.id },
          el("td", {}, fmtTime(ev.time)),
          el("td", {}, what + who, el("span", { class: "muted" }, ` (${ev.view})`)),
          el("td", {}, ev.from ? badge(ev.from) : "", " → ", badge(ev.to)),
          el("td", {}, ev.cause),
          el("td", {}, ev.detail ? el("pre", {}, ev.detail) : "")));
      }
    }
  });
}

function jobStatus(d) {
  return d.scheduler ? d.scheduler.status : (d.jobs[0] || {}).status;
}

function renderJobHead(head, d) {
  const status = jobStatus(d);
  const first = d.jobs[0] || {};
  const ended = ["success", "failed", "canceled", "timeout"].includes(status);
  const msg = el("span", { id: "action-result", class: "muted" });
  const stop = el("button", { class: "danger", id: "stop", disabled: ended });
  stop.textContent = "Stop";
  stop.addEventListener("click", async () => {
    if (stop.dataset.armed !== "1") { stop.dataset.armed = "1"; stop.textContent = "Confirm stop"; return; }
    stop.disabled = true;
    const v = await fatePost("/v2/job/stop", { job_id: d.job_id });
    msg.textContent = v.code === 0 ? "stop requested" : `stop refused: ${v.message}`;
  });
  const rerun = el("button", { class: "secondary", id: "rerun", disabled: !ended || status === "success" }, "Rerun");
  rerun.addEventListener("click", async () => {
    rerun.disabled = true;
    const v = await fatePost("/v2/job/rerun", { job_id: d.job_id });
    msg.textContent = v.code === 0 ? "rerun requested" : `rerun refused: ${v.message}`;
  });
  const why = (d.scheduler && d.scheduler.wait_reason) || first.wait_reason;
  replace(head,
    el("div", { class: "row" }, el("span", { id: "job-status" }, badge(status)),
      el("span", { class: "bar" }, el("span", { style: `width:${Math.min(100, first.progress || 0)}%` })),
      `${(d.scheduler || first).progress || 0}%`, stop, rerun, msg),
    why && status !== "running" && status !== "success" ? el("p", { class: "why", id: "job-why" }, why) : null,
    el("dl", { class: "kv" },
      el("dt", {}, "parties"), el("dd", {}, partiesText(first.parties)),
      el("dt", {}, "this site's rows"), el("dd", {}, d.jobs.map((j) => el("span", {}, `${j.role} ${j.party_id} `, badge(j.status), " "))),
      el("dt", {}, "initiator / scheduler"), el("dd", {}, `${first.initiator_party_id} / ${first.scheduler_party_id}`),
      el("dt", {}, "tag, user"), el("dd", {}, `${first.tag} ${first.user_name || ""}`),
      el("dt", {}, "created"), el("dd", {}, fmtTime(first.create_time)),
      el("dt", {}, "started / ended"), el("dd", {}, `${fmtTime(first.start_time)} / ${fmtTime(first.end_time)}`),
      el("dt", {}, "duration"), el("dd", {}, duration(first))));
}

// The DAG's tasks and edges, from the job's DAG document.
function dagOf(d) {
  const doc = (d.jobs[0] || {}).dag || {};
  const tasks = (doc.dag && doc.dag.tasks) || {};
  const names = Object.keys(tasks);
  const edges = [];
  for (const [name, t] of Object.entries(tasks)) {
    for (const kind of ["data", "model"]) {
      const inputs = (t.inputs && t.inputs[kind]) || {};
      for (const channel of Object.values(inputs)) {
        for (const c of [channel].flat()) {
          for (const src of [c && c.task_output_artifact].flat()) {
            if (src && src.producer_task && tasks[src.producer_task]) edges.push([src.producer_task, name]);
          }
        }
      }
    }
  }
  return { names, edges, tasks };
}

// Every party's run of every task: the scheduler's view (all parties) when this site
// schedules the job, this site's own rows otherwise.
function partyRuns(d) {
  const runs = {};
  const add = (name, r) => { (runs[name] = runs[name] || []).push(r); };
  const local = {};
  for (const t of d.tasks) local[`${t.task_name}/${t.role}/${t.party_id}`] = t;
  if (d.scheduler) {
    const latest = {};
    for (const t of d.scheduler.party_tasks) {
      const k = `${t.task_name}/${t.role}/${t.party_id}`;
      if (!latest[k] || latest[k].task_version < t.task_version) latest[k] = t;
    }
    for (const [k, t] of Object.entries(latest)) add(t.task_name, Object.assign({ local: !!local[k] }, t));
  } else {
    for (const t of d.tasks) add(t.task_name, Object.assign({ local: true }, t, { status: t.party_status }));
  }
  return runs;
}

function federatedStatus(d, name) {
  if (d.scheduler) {
    let best = null;
    for (const t of d.scheduler.tasks) if (t.task_name === name && (!best || best.task_version < t.task_version)) best = t;
    if (best) return best;
  }
  const t = d.tasks.find((x) => x.task_name === name);
  return t ? { status: t.status, wait_reason: t.wait_reason } : { status: "waiting" };
}

function renderDag(box, d) {
  const { names, edges, tasks } = dagOf(d);
  const runs = partyRuns(d);
  // Layers by longest path from a source, left to right.
  const layer = {};
  const depth = (n, seen) => {
    if (layer[n] !== undefined) return layer[n];
    if (seen.has(n)) return 0;
    seen.add(n);
    const ups = edges.filter(([, to]) => to === n).map(([from]) => depth(from, seen) + 1);
    return (layer[n] = ups.length ? Math.max(...ups) : 0);
  };
  names.forEach((n) => depth(n, new Set()));
  const columns = [];
  for (const n of names) (columns[layer[n]] = columns[layer[n]] || []).push(n);
  const W = 232, H = 86, GX = 64, GY = 26, PAD = 16;
  const pos = {};
  columns.forEach((col, x) => col.forEach((n, y) => { pos[n] = { x: PAD + x * (W + GX), y: PAD + y * (H + GY) }; }));
  const width = PAD * 2 + Math.max(1, columns.length) * (W + GX) - GX;
  const height = PAD * 2 + Math.max(1, ...columns.map((c) => c.length)) * (H + GY) - GY;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "dag-svg", role: "img" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#98a2b3" }))));
  for (const [from, to] of edges) {
    const a = pos[from], b = pos[to];
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    root.appendChild(svg("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
  }
  for (const n of names) {
    const p = pos[n];
    const fed = federatedStatus(d, n);
    const color = `var(--${String(fed.status).replace(/[^a-z]/g, "")}, #98a2b3)`;
    const g = svg("g", { class: "node", transform: `translate(${p.x},${p.y})`, "data-task": n, "data-status": fed.status },
      svg("title", {}, `${n}: ${fed.status}${fed.wait_reason ? " — " + fed.wait_reason : ""}`),
      svg("rect", { class: "box", width: W, height: H, rx: 6 }),
      svg("rect", { width: 6, height: H, fill: color, rx: 3 }),
      svg("text", { x: 14, y: 20, class: "title" }, n),
      svg("text", { x: 14, y: 36, class: "comp" }, `${(tasks[n] || {}).component_ref || ""} · ${fed.status}`));
    (runs[n] || []).forEach((r, i) => {
      const px = 14 + (i % 3) * 70, py = 46 + Math.floor(i / 3) * 18;
      const label = `${r.role} ${r.party_id}`;
      const pill = svg("g", { class: "party", "data-party": `${r.role}:${r.party_id}`, "data-status": r.status },
        svg("title", {}, `${label}: ${r.status}${r.error_report ? " — " + r.error_report : ""}`),
        svg("rect", { x: px, y: py, width: 66, height: 15, rx: 7, fill: `var(--${String(r.status).replace(/[^a-z]/g, "")}, #98a2b3)` }),
        svg("text", { x: px + 33, y: py + 11, "text-anchor": "middle", style: "fill:#fff;font-size:10px" }, label));
      if (r.local) {
        const a = svg("a", { href: `/ui/job/${encodeURIComponent(d.job_id)}/${encodeURIComponent(r.role)}/${encodeURIComponent(r.party_id)}/${encodeURIComponent(n)}` }, pill);
        g.appendChild(a);
      } else {
        g.appendChild(pill);
      }
    });
    root.appendChild(g);
  }
  replace(box, root);
}

function renderTasks(box, d) {
  const order = dagOf(d).names;
  const rank = (t) => order.indexOf(t.task_name);
  const rows = [...d.tasks].sort((a, b) => (rank(a) - rank(b)) || a.role.localeCompare(b.role) || a.party_id.localeCompare(b.party_id));
  const why = {};
  if (d.scheduler) for (const t of d.scheduler.tasks) why[t.task_name] = t.wait_reason;
  replace(box, el("table", { id: "task-table" },
    el("thead", {}, el("tr", {}, ["task", "component", "party", "version", "status", "started", "duration", "why it waits / error"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((t) => el("tr", { "data-task": t.task_name, "data-party": `${t.role}:${t.party_id}` },
      el("td", {}, el("a", { href: `/ui/job/${encodeURIComponent(t.job_id)}/${encodeURIComponent(t.role)}/${encodeURIComponent(t.party_id)}/${encodeURIComponent(t.task_name)}` }, t.task_name)),
      el("td", {}, t.component, el("div", { class: "muted" }, t.provider_name)),
      el("td", {}, `${t.role} ${t.party_id}`),
      el("td", { class: "num" }, t.task_version),
      el("td", {}, badge(t.party_status)),
      el("td", {}, fmtTime(t.start_time)),
      el("td", { class: "num" }, duration(t)),
      el("td", {}, t.error_report ? el("pre", { class: "error task-error" }, plainError(t.error_report)) :
        t.party_status === "waiting" ? el("span", { class: "why" }, t.wait_reason || why[t.task_name] || "waiting for an upstream task") : ""))))));
}

// An error report in plain words: its first line that says what happened, then the rest.
function plainError(report) {
  const lines = String(report).split("\n");
  const last = [...lines].reverse().find((l) => /error|exception|fail/i.test(l) && l.trim());
  return last && lines.length > 3 ? `${last.trim()}\n\n${report}` : report;
}

// A task -------------------------------------------------------------------------------

function viewTask(args) {
  const { job_id, role, party_id, task_name } = args;
  document.title = `${task_name} · ${job_id} · ferroflow`;
  const q = { job_id, role, party_id, task_name };
  const info = el("div", { class: "card", id: "task-info" });
  const params = el("div", { id: "task-params" });
  const charts = el("div", { class: "charts", id: "charts" });
  const evaluation = el("div", { id: "evaluation" });
  const model = el("div", { id: "model" });
  const preview = el("div", { id: "preview" });
  const logType = el("select", { id: "log-type" }, ["task_info", "task_error", "task_warning", "task_debug"].map((t) => el("option", { value: t }, t)));
  const follow = el("input", { type: "checkbox", id: "follow", checked: true });
  const log = el("pre", { class: "log", id: "log" });
  replace(main,
    el("h1", {}, el("a", { href: "/ui/job/" + encodeURIComponent(job_id) }, job_id), ` / ${task_name} · ${role} ${party_id}`),
    info, el("h2", {}, "Parameters"), params,
    el("h2", {}, "Metrics"), charts, evaluation,
    el("h2", {}, "Log"), el("div", { class: "row" }, logType, el("label", {}, follow, " follow")), log,
    el("h2", {}, "Output data"), preview, el("h2", {}, "Model"), model);
  let logState = { type: "task_info", next: 0 };
  logType.addEventListener("change", () => { logState = { type: logType.value, next: 0 }; log.textContent = ""; });
  let lastVersion = null;
  every(POLL_MS, async () => {
    const tasks = await fate("/v2/job/task/query", q);
    const t = tasks[0];
    renderTaskInfo(info, t);
    if (lastVersion !== t.task_version) {
      lastVersion = t.task_version;
      replace(params, el("pre", { id: "parameters" }, pretty(t.component_parameters)));
    }
    await tailLog(log, q, logState, follow.checked);
    if (t.party_status !== "running" && t.party_status !== "waiting" && charts.dataset.done === String(t.task_version)) return;
    const metrics = await fate("/v2/output/metric/query", q).catch(() => []);
    renderMetrics(charts, evaluation, metrics);
    if (t.party_status === "success") {
      charts.dataset.done = String(t.task_version);
      const m = await fate("/v2/output/model/query", q).catch(() => null);
      replace(model, m && Object.keys(m).length ? el("pre", {}, truncate(pretty(m), 20000)) : el("p", { class: "muted" }, "No model."));
      const data = await fate("/v2/output/data/display", q).catch(() => null);
      renderPreview(preview, data);
    }
  });
}

function truncate(s, n) { return s.length > n ? s.slice(0, n) + "\n…" : s; }

function renderTaskInfo(box, t) {
  replace(box, el("div", { class: "row" }, el("span", { id: "task-status" }, badge(t.party_status)),
    el("span", { class: "muted" }, `federated ${t.status} · version ${t.task_version}`)),
    t.error_report ? el("pre", { class: "error", id: "task-error" }, plainError(t.error_report)) : null,
    t.party_status === "waiting" && t.wait_reason ? el("p", { class: "why" }, t.wait_reason) : null,
    el("dl", { class: "kv" },
      el("dt", {}, "component"), el("dd", {}, `${t.component} (${t.provider_name})`),
      el("dt", {}, "task id"), el("dd", {}, t.task_id),
      el("dt", {}, "started / ended"), el("dd", {}, `${fmtTime(t.start_time)} / ${fmtTime(t.end_time)}`),
      el("dt", {}, "duration"), el("dd", {}, duration(t)),
      el("dt", {}, "cores"), el("dd", {}, t.task_cores),
      el("dt", {}, "run"), el("dd", {}, t.worker_id ? `${t.launcher_name || ""} ${t.worker_id}` : t.run_pid ? `pid ${t.run_pid}` : ""),
      ...engineApplication(t)));
}

/** The engine's application that ran the task (a Spark application), from its engine_conf. */
function engineApplication(t) {
  const a = t.engine_conf && t.engine_conf.computing;
  if (!a || typeof a.application_id !== "string" || !a.application_id) return [];
  const ui = typeof a.ui === "string" && /^https?:\/\//.test(a.ui) ? a.ui : "";
  return [el("dt", {}, `${a.engine} application`),
    el("dd", { id: "task-application" }, a.application_id,
      ui ? el("span", {}, " · ", el("a", { href: ui, rel: "noopener noreferrer" }, ui)) : null,
      a.master ? el("span", { class: "muted" }, ` on ${a.master}`) : null)];
}

async function tailLog(box, q, state, follow) {
  const base = Object.assign({ log_type: state.type }, q);
  if (state.next === 0) {
    const n = await fate("/v2/log/count", base).catch(() => 0);
    state.next = Math.max(1, n - 199);
  }
  const lines = await fate("/v2/log/query", Object.assign({ begin: state.next, end: state.next + 999 }, base)).catch(() => []);
  if (!lines.length) {
    if (!box.textContent) box.textContent = "(no lines yet)";
    return;
  }
  if (box.textContent === "(no lines yet)") box.textContent = "";
  for (const l of lines) {
    box.appendChild(document.createTextNode(l.content + "\n"));
    state.next = l.line_num + 1;
  }
  if (follow) box.scrollTop = box.scrollHeight;
}

// Metrics: a series of {step, metric} points is a line chart (one point per iteration);
// the evaluation component's result is its scores and ROC, KS and lift curves.
function renderMetrics(charts, evaluation, metrics) {
  const series = {};
  const evals = [];
  for (const m of metrics || []) {
    if (Array.isArray(m.data) && m.data.length && m.data[0] && "step" in m.data[0]) {
      const groups = (m.groups || []).map((g) => g.name).filter((g) => g && g !== "default").join("/");
      const key = m.name + (groups ? ` (${groups})` : "");
      const s = (series[key] = series[key] || { name: key, axis: m.step_axis || "step", points: [] });
      for (const p of m.data) {
        const y = Array.isArray(p.metric) ? p.metric[0] : p.metric;
        if (typeof y === "number") s.points.push([Number(p.step), y]);
      }
    } else if (m.data && typeof m.data === "object" && !Array.isArray(m.data)) {
      evals.push(m);
    }
  }
  replace(charts, Object.values(series).map((s) => {
    s.points.sort((a, b) => a[0] - b[0]);
    return el("div", { class: "card chart", "data-metric": s.name },
      el("strong", {}, s.name), lineChart([{ name: s.name, points: s.points }], { x: s.axis, y: s.name }));
  }));
  if (!Object.keys(series).length && !evals.length) replace(charts, el("p", { class: "muted" }, "No metrics."));
  replace(evaluation, evals.map(renderEvaluation));
}

function renderEvaluation(m) {
  const out = [];
  for (const [model, sets] of Object.entries(m.data)) {
    for (const [set, nested] of Object.entries(sets || {})) {
      if (!Array.isArray(nested)) continue;
      // A metric with a table gives a pair ({ks}, {ks_table}): items are flattened.
      const items = nested.flat(2);
      const by = {};
      for (const it of items) if (it && it.metric) by[it.metric] = it.val;
      const scores = items.filter((it) => typeof it.val === "number");
      const curves = [];
      const ks = by.ks_table;
      if (ks && ks.fpr && ks.tpr) {
        curves.push(["ROC", [{ name: "ROC", points: ks.fpr.map((x, i) => [x, ks.tpr[i]]) },
          { name: "chance", points: [[0, 0], [1, 1]] }], { x: "false positive rate", y: "true positive rate" }]);
        const n = ks.tpr.length;
        curves.push(["KS", [{ name: "TPR", points: ks.tpr.map((y, i) => [i / Math.max(1, n - 1), y]) },
          { name: "FPR", points: ks.fpr.map((y, i) => [i / Math.max(1, n - 1), y]) }], { x: "share of samples by score", y: "rate" }]);
      }
      if (by.lift && by.lift.liftx) curves.push(["Lift", classCurves(by.lift.liftx, by.lift.lifty), { x: "share of samples", y: "lift" }]);
      if (by.gain && by.gain.gainx) curves.push(["Gain", classCurves(by.gain.gainx, by.gain.gainy), { x: "share of samples", y: "gain" }]);
      out.push(el("div", { class: "card evaluation", "data-model": model, "data-set": set },
        el("strong", {}, `${m.name}: ${model} · ${set}`),
        el("table", { class: "scores" }, el("tbody", {}, scores.map((s) => el("tr", { "data-score": s.metric },
          el("td", {}, s.metric), el("td", { class: "num" }, Number(s.val).toFixed(6)))))),
        el("div", { class: "charts" }, curves.map(([title, series, axes]) =>
          el("div", { class: "chart", "data-curve": title }, el("strong", {}, title), lineChart(series, axes))))));
    }
  }
  return out;
}

// pyfate's lift and gain give a pair per threshold, [negative class, positive class]: one
// curve each (plain numbers are one curve).
function classCurves(xs, ys) {
  if (!Array.isArray(xs[0])) return [{ name: "all", points: xs.map((x, i) => [x, ys[i]]) }];
  return [[1, "positive class"], [0, "negative class"]].map(([k, name]) =>
    ({ name, points: xs.map((x, i) => [x[k], (ys[i] || [])[k]]) }));
}

const PALETTE = ["#2f6fdb", "#d64545", "#2e9e5b", "#e58a1f", "#8a4fd8"];

function niceTicks(lo, hi, n) {
  if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
  if (hi === lo) { hi = lo + 1; }
  const step0 = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= step0) || step0;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function lineChart(series, axes) {
  const W = 420, H = 240, L = 52, R = 12, T = 12, B = 40;
  const pts = series.flatMap((s) => s.points).filter((p) => isFinite(p[0]) && isFinite(p[1]));
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!pts.length) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
  if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "linechart" });
  for (const t of niceTicks(y0, y1, 5)) {
    if (t < y0 || t > y1) continue;
    root.appendChild(svg("line", { class: "grid", x1: L, x2: W - R, y1: sy(t), y2: sy(t) }));
    root.appendChild(svg("text", { x: L - 6, y: sy(t) + 4, "text-anchor": "end" }, +t.toPrecision(4)));
  }
  for (const t of niceTicks(x0, x1, 6)) {
    if (t < x0 || t > x1) continue;
    root.appendChild(svg("text", { x: sx(t), y: H - B + 16, "text-anchor": "middle" }, +t.toPrecision(4)));
  }
  root.appendChild(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  root.appendChild(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  root.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "muted" }, axes.x || ""));
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const good = s.points.filter((p) => isFinite(p[0]) && isFinite(p[1]));
    root.appendChild(svg("polyline", { class: "series", stroke: color, "data-series": s.name,
      points: good.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ") }));
    if (good.length <= 200) for (const p of good) {
      root.appendChild(svg("circle", { class: "pt", cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: color, "data-series": s.name },
        svg("title", {}, `${s.name}: ${p[0]} → ${p[1]}`)));
    }
    if (series.length > 1) {
      root.appendChild(svg("text", { x: W - R - 4, y: T + 12 + i * 14, "text-anchor": "end", style: `fill:${color}` }, s.name));
    }
  });
  return root;
}

function renderPreview(box, data) {
  if (!data) { replace(box, el("p", { class: "muted" }, "No output data.")); return; }
  const tables = [];
  const walk = (v, name) => {
    const header = v && (v.header || (v.metadata && v.metadata.header));
    if (v && Array.isArray(header) && Array.isArray(v.data)) tables.push([name + (v.total !== undefined ? ` (${v.total} rows)` : ""), header, v.data]);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, name ? `${name}.${k}` : k);
  };
  walk(data, "");
  if (!tables.length) { replace(box, el("pre", {}, truncate(pretty(data), 8000))); return; }
  replace(box, tables.map(([name, header, rows]) => el("div", { class: "card" }, el("strong", {}, name),
    el("table", { class: "preview" }, el("thead", {}, el("tr", {}, header.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.slice(0, 20).map((r) => el("tr", {}, (Array.isArray(r) ? r : [r]).map((c) => el("td", {}, typeof c === "object" ? JSON.stringify(c) : c)))))))));
}

// The site -----------------------------------------------------------------------------

function viewSite() {
  document.title = "site · ferroflow";
  const box = el("div", { id: "site" });
  const providers = el("div", { id: "providers" });
  replace(main, el("h1", {}, "Site"), box, el("h2", {}, "Providers"), providers);
  every(5 * POLL_MS, async () => {
    const r = await getJSON("/ui/api/site");
    if (!r.changed || r.status !== 200) return;
    renderSite(box, r.data);
    replace(providers, el("table", { id: "provider-table" },
      el("thead", {}, el("tr", {}, ["provider", "version", "device", "components"].map((h) => el("th", {}, h)))),
      el("tbody", {}, r.data.providers.map((p) => el("tr", {},
        el("td", {}, p.name), el("td", {}, p.version), el("td", {}, p.device),
        el("td", {}, p.components.join(", ")))))));
  });
}

function renderSite(box, s) {
  const load = s.load || {};
  const count = (list, status) => ((list || []).find(([k]) => k === status) || [0, 0])[1];
  const used = load.cores - load.remaining_cores;
  replace(box,
    el("div", { class: "card" }, el("dl", { class: "kv" },
      el("dt", {}, "party"), el("dd", { id: "site-party" }, s.party_id),
      el("dt", {}, "mode"), el("dd", {}, s.standalone ? "standalone" : "federated"),
      el("dt", {}, "client authentication"), el("dd", {}, s.client_authentication ? "on" : "off"),
      el("dt", {}, "queue"), el("dd", { id: "site-queue" }, `${count(load.scheduled_jobs, "waiting")} waiting, ${count(load.scheduled_jobs, "running")} running (scheduled here)`),
      el("dt", {}, "cores in use"), el("dd", { id: "site-cores" }, `${used} of ${load.cores}`),
      el("dt", {}, "task runs"), el("dd", {}, (load.party_tasks || []).map(([k, n]) => el("span", {}, badge(k), ` ${n}  `))))),
    el("h2", {}, "Instances"),
    el("table", {}, el("thead", {}, el("tr", {}, ["instance", "host", "http", "grpc", "version"].map((h) => el("th", {}, h)))),
      el("tbody", {}, s.instances.map((i) => el("tr", {}, el("td", {}, i.instance_id), el("td", {}, i.host),
        el("td", {}, i.http_port), el("td", {}, i.grpc_port || "off"), el("td", {}, i.version))))),
    el("h2", {}, "Partners"),
    el("table", { id: "partners" }, el("thead", {}, el("tr", {}, ["party", "route", "address", "answers"].map((h) => el("th", {}, h)))),
      el("tbody", {}, s.partners.length ? s.partners.map((p) => el("tr", { "data-party": p.party_id },
        el("td", {}, p.party_id), el("td", {}, p.kind), el("td", {}, p.address),
        el("td", {}, p.probe.answers ? badge("success") : badge("failed"), " ",
          p.probe.latency_ms !== undefined ? `${p.probe.latency_ms.toFixed(1)} ms` : p.probe.detail || ""))) :
        el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No routes: every party is served here.")))),
    s.default_route ? el("p", { class: "muted" }, `Other parties: ${s.default_route}`) : null);
}

// Login --------------------------------------------------------------------------------

function viewLogin(args) {
  document.title = "login · ferroflow";
  const c = credentials() || {};
  const state = el("p", { id: "login-state", class: "muted" });
  const form = el("form", { class: "card", id: "login" },
    el("p", {}, "Sign the dashboard's calls with a client app's credentials (",
      el("code", {}, "flow app create-client"), "), as FATE's client does."),
    el("div", { class: "filters" },
      el("label", {}, "app id", el("input", { name: "app_id", value: c.app_id || "", required: true })),
      el("label", {}, "app token", el("input", { name: "app_token", type: "password", value: c.app_token || "", required: true })),
      el("label", {}, "user name", el("input", { name: "user_name", value: c.user_name || "" })),
      el("button", { type: "submit" }, "Sign in"),
      el("button", { type: "button", class: "secondary", id: "logout" }, "Sign out")), state);
  replace(main, el("h1", {}, "Login"), form);
  state.textContent = args && args.client_authentication ?
    "This site checks client credentials: sign in." :
    "This site does not check client credentials (client authentication is off).";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = Object.fromEntries(new FormData(form));
    sessionStorage.setItem("ferroflow.credentials", JSON.stringify(v));
    location.href = "/ui/";
  });
  form.querySelector("#logout").addEventListener("click", () => {
    sessionStorage.removeItem("ferroflow.credentials");
    state.textContent = "Signed out.";
  });
}

start();
