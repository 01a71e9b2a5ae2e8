"""The real fate_client 2.2 against a ferroflow site: every `flow` command group, the
`FlowClient` SDK on the same routes, and the pipeline SDK with the demo components.

    python suite.py --ferroflow PATH/TO/ferroflow [--keep] [--only SUBSTRINGS] [--url http://ip:port]

Run it with the Python of a fate_client 2.2 venv (`ci/fate-client-venv.sh`). It starts its own
`ferroflow serve` (party 9999, a free port, a temporary data directory) with client
authentication on, reads the admin app's credentials the site wrote (`credentials/admin.json`),
points the venv's `flow` CLI at it (`flow init --app-id --app-token`), runs every step with
signed calls, checks each result the way a user would (the
job really ran, the table really exists, the downloaded model is the saved one) and prints
`N passed, M failed`. The exit code is 0 only when nothing failed.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST, HOST, ARBITER = "9999", "10000", "9999"
ROWS = 300  # rows of the demo sample files


class Failed(Exception):
    pass


def check(cond, what, detail=None):
    if not cond:
        raise Failed(f"{what}" + (f": {json.dumps(detail)[:600]}" if detail is not None else ""))


def ok(resp, what):
    check(isinstance(resp, dict) and resp.get("code") == 0, f"{what} answered an error", resp)
    return resp


def error_of(resp, code, words, what):
    """An error a user reads: the expected code and a message naming what is wrong."""
    check(isinstance(resp, dict) and resp.get("code") == code, f"{what}: expected code {code}", resp)
    msg = resp.get("message") or resp.get("retmsg") or ""
    for w in words:
        check(w in msg, f"{what}: the message does not name {w!r}", resp)


class Site:
    """A `ferroflow serve` process of its own."""

    def __init__(self, binary, root, extra_conf=""):
        self.root = root
        self.app_id = self.app_token = None
        self.data = os.path.join(root, "files")
        os.makedirs(self.data, exist_ok=True)
        conf = os.path.join(root, "service_conf.yaml")
        with open(conf, "w") as f:
            f.write(f"allowed_dirs: [{json.dumps(root)}]\nupload_dir: {json.dumps(os.path.join(root, 'upload'))}\n")
            f.write(extra_conf)
        self.log = open(os.path.join(root, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--party-id", GUEST, "--data-dir", os.path.join(root, "site"),
             "--config", conf],
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True, text=True,
        )
        deadline = time.time() + 60
        self.url = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            i = line.find("http://")
            if i >= 0:
                self.url = line[i:].split()[0].rstrip("/")
                break
        if not self.url:
            self.stop()
            raise SystemExit("ferroflow serve did not start: see " + os.path.join(root, "server.log"))
        hostport = self.url[len("http://"):].split("/")[0]
        self.ip, port = hostport.rsplit(":", 1)
        self.port = int(port)
        # With client authentication on, the site made an admin app and wrote its credentials.
        admin = os.path.join(root, "site", "credentials", "admin.json")
        if os.path.exists(admin):
            creds = json.load(open(admin))
            self.app_id, self.app_token = creds["app_id"], creds["app_token"]

    def credentials(self):
        """`flow init` arguments naming the admin app, when the site authenticates clients."""
        if not self.app_id:
            return []
        return ["--app-id", self.app_id, "--app-token", self.app_token]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Remote:
    """A site started by someone else (`--url`), e.g. a FATE Flow 2.2 to compare with."""

    def __init__(self, url, root, app_id=None, app_token=None):
        self.root, self.url = root, url.rstrip("/")
        self.app_id, self.app_token = app_id, app_token
        self.data = os.path.join(root, "files")
        os.makedirs(self.data, exist_ok=True)
        hostport = self.url[len("http://"):].split("/")[0]
        self.ip, port = hostport.rsplit(":", 1)
        self.port = int(port)

    def credentials(self):
        return ["--app-id", self.app_id, "--app-token", self.app_token] if self.app_id else []

    def stop(self):
        pass


class Suite:
    def __init__(self, site, root, only, binary):
        self.site, self.root, self.only, self.binary = site, root, only, binary
        self.passed, self.failed = [], []
        self.bin = os.path.dirname(sys.executable)
        from fate_client.flow_sdk import FlowClient

        self.client = FlowClient(ip=site.ip, port=site.port, version="v2", app_id=site.app_id,
                                 app_token=site.app_token)
        self.state = {}

    # --- running -------------------------------------------------------------------------
    def step(self, name, fn):
        if self.only and not any(o in name for o in self.only.split(",")):
            return
        start = time.time()
        try:
            fn()
            self.passed.append(name)
            print(f"PASS {name} ({time.time() - start:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the suite goes on
            self.failed.append(name)
            detail = str(e) if isinstance(e, Failed) else traceback.format_exc()
            print(f"FAIL {name} ({time.time() - start:.1f} s): {detail}", flush=True)

    def init_flow(self, site):
        """`flow init` pointing the CLI at `site`, signing with its admin app if it has one."""
        return self.flow("init", "--ip", site.ip, "--port", str(site.port), *site.credentials())

    def flow(self, *args, raw=False, timeout=120):
        out = subprocess.run([os.path.join(self.bin, "flow"), *args], capture_output=True, text=True,
                             timeout=timeout, cwd=self.root)
        if raw:
            return out
        try:
            return json.loads(out.stdout)
        except json.JSONDecodeError:
            raise Failed(f"flow {' '.join(args)}: not JSON: {out.stdout[-500:]} {out.stderr[-1500:]}")

    def write(self, name, value):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(value if isinstance(value, str) else json.dumps(value))
        return path

    def wait_job(self, job_id, role="guest", party_id=GUEST, want=("success",), timeout=120):
        deadline = time.time() + timeout
        status = None
        while time.time() < deadline:
            r = self.client.job.query(job_id=job_id, role=role, party_id=party_id)
            if r.get("code") == 0 and r.get("data"):
                status = r["data"][0]["status"]
                if status in ("success", "failed", "canceled", "timeout"):
                    break
            time.sleep(0.3)
        check(status in want, f"job {job_id} ended {status}, expected {want}", self.tasks_brief(job_id, role, party_id))
        return status

    def tasks_brief(self, job_id, role, party_id):
        r = self.client.task.query(job_id=job_id, role=role, party_id=party_id)
        return [(t.get("task_name"), t.get("status"), t.get("error_report")) for t in r.get("data") or []]

    # --- inputs --------------------------------------------------------------------------
    def sample_files(self):
        src = os.path.join(HERE, "..", "..", "crates", "cli", "data")
        for n in ("demo_guest.csv", "demo_host.csv"):
            shutil.copy(os.path.join(src, n), os.path.join(self.site.data, n))
        return os.path.join(self.site.data, "demo_guest.csv"), os.path.join(self.site.data, "demo_host.csv")

    def dag(self, tasks, parties=None, conf=None):
        parties = parties or [
            {"role": "guest", "party_id": [GUEST]},
            {"role": "host", "party_id": [HOST]},
            {"role": "arbiter", "party_id": [ARBITER]},
        ]
        c = {"task": {"provider": "demo:*@local"}}
        c.update(conf or {})
        return {"dag": {"parties": parties, "conf": c, "stage": "default", "tasks": tasks}, "schema_version": "2.2.0"}

    def train_dag(self):
        gh = [{"role": "guest", "party_id": [GUEST]}, {"role": "host", "party_id": [HOST]}]

        def out(task, key):
            return {"task_output_artifact": {"producer_task": task, "output_artifact_key": key, "parties": gh}}

        return self.dag({
            "reader_0": {"component_ref": "demo_reader", "parties": gh, "parameters": {}},
            "transform_0": {"component_ref": "demo_transform", "parties": gh, "parameters": {"scale": 2.0},
                            "inputs": {"data": {"input_data": out("reader_0", "output_data")}}},
            "train_0": {"component_ref": "demo_train", "parties": gh, "parameters": {"max_iter": 5},
                        "inputs": {"data": {"train_data": out("transform_0", "output_data")}}},
        })

    def with_readers(self, dag, guest_table, host_table):
        dag["dag"]["party_tasks"] = {
            "guest_9999": {"parties": [{"role": "guest", "party_id": [GUEST]}],
                           "tasks": {"reader_0": {"parameters": guest_table}}},
            "host_10000": {"parties": [{"role": "host", "party_id": [HOST]}],
                           "tasks": {"reader_0": {"parameters": host_table}}},
        }
        return dag


def sandbox_flow_settings():
    """The `flow` CLI keeps its server in the venv's settings.yaml: keep the user's copy."""
    import fate_client.flow_cli.flow as f

    path = str(f.config_path)
    saved = open(path).read() if os.path.exists(path) else None
    return path, saved


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ferroflow", required=True, help="the ferroflow binary")
    p.add_argument("--url", help="drive this running site (http://ip:port) instead of starting one; the "
                   "steps needing a site of their own (authentication) start one with --ferroflow")
    p.add_argument("--app-id", help="with --url: the app to sign calls with (client authentication)")
    p.add_argument("--app-token", help="with --url: that app's token")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--only", help="run only the steps whose names contain one of these (comma-separated)")
    a = p.parse_args()

    started = time.time()
    root = tempfile.mkdtemp(prefix="ferroflow-fate-client-")
    settings, saved = sandbox_flow_settings()
    if a.url:
        site = Remote(a.url, root, a.app_id, a.app_token)
        print(f"site at {site.url} (not started here), files in {root}", flush=True)
    else:
        site = Site(os.path.abspath(a.ferroflow), root, "authentication:\n  client: true\n")
        if not site.app_id:
            raise SystemExit("the site wrote no admin credentials (credentials/admin.json)")
        print(f"ferroflow site at {site.url}, data in {root}", flush=True)
    suite = Suite(site, root, a.only, os.path.abspath(a.ferroflow))
    try:
        import steps

        steps.run(suite)
        print("What users read for bad input:")
        steps.what_users_read(suite)
    finally:
        site.stop()
        if saved is not None:
            with open(settings, "w") as f:
                f.write(saved)
        if a.keep or suite.failed:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{len(suite.passed)} passed, {len(suite.failed)} failed ({time.time() - started:.0f} s)")
    if suite.failed:
        print("failed: " + ", ".join(suite.failed))
    return 1 if suite.failed or not suite.passed else 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
