"""The same FATE job on the standalone engine and on Apache Spark: wall time and peak memory.

    <pyfate venv>/bin/python bench/spark.py --ferroflow target/release/ferroflow \
        [--modes standalone,local2,cluster] [--rows 569] [--epochs 3] [--batch-size 300|full]

For each mode a fresh `ferroflow serve` site (guest 9999, host 10000, arbiter 9999 on one site)
uploads FATE's breast tables (replicated to --rows rows per party, new ids, when more than the
569 of the file) and fits reader -> psi -> coordinated_lr -> evaluation with FATE's pipeline SDK
(`crates/cli/tests/pyfate/pipeline_job.py --fit-only`). Spark modes use RabbitMQ
(`ci/rabbitmq.sh`) as federation and `local[2]` or a standalone cluster of a master and two
workers started here on loopback from pyspark's jars. Peak memory is the largest sum of the
resident sets of the site's process tree, the broker and the cluster's JVMs, sampled every
0.25 s. Prints a Markdown table. A benchmark, not a test: nothing is asserted.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "crates/cli/data"
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children():
    """pid -> parent pid of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    out[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    return out


def rss(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


class Peak(threading.Thread):
    """The largest summed RSS of the trees under `roots` (a callable giving the root pids)."""

    def __init__(self, roots):
        super().__init__(daemon=True)
        self.roots, self.peak, self.stop = roots, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            parents = children()
            tree = set(self.roots())
            grew = True
            while grew:
                new = {p for p, pp in parents.items() if pp in tree and p not in tree}
                tree |= new
                grew = bool(new)
            self.peak = max(self.peak, sum(rss(p) for p in tree))
            time.sleep(0.25)


def replicate(src, dst, rows):
    lines = src.read_text().splitlines()
    header, body = lines[0], lines[1:]
    with open(dst, "w") as f:
        f.write(header + "\n")
        for i in range(rows):
            cols = body[i % len(body)].split(",")
            cols[0] = str(i)
            f.write(",".join(cols) + "\n")


def start_group(cmd, log, env=None):
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_mode(mode, a, work):
    py = sys.executable
    d = work / mode
    d.mkdir(parents=True)
    procs, broker = [], None
    conf = f"fate:\n  venv: {py}\nupload_dir: {d / 'upload'}\nallowed_dirs: ['{work}']\n"
    env = dict(os.environ)
    try:
        if mode != "standalone":
            mq = dict(MQ_PORT=str(free_port()), MQ_MNG_PORT=str(free_port()), MQ_DIST_PORT=str(free_port()))
            broker = (d / "mq", mq)
            subprocess.run([ROOT / "ci/rabbitmq.sh", "start", d / "mq"], env={**env, **mq}, check=True,
                           capture_output=True)
            master = "local[2]"
            if mode == "cluster":
                import pyspark

                home = Path(pyspark.__file__).parent
                port, ui = free_port(), free_port()
                master = f"spark://127.0.0.1:{port}"
                jenv = {**env, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": py}
                cls = str(home / "bin/spark-class")
                procs.append(start_group([cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                          "--port", str(port), "--webui-port", str(ui)], d / "master.log", jenv))
                for w in range(2):
                    procs.append(start_group([cls, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                              "--cores", "4", "--memory", "4g", "--webui-port", str(free_port()),
                                              "--work-dir", str(d / f"w{w}"), master], d / f"worker{w}.log", jenv))
                deadline = time.time() + 180
                while True:
                    try:
                        out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{ui}/json/"], capture_output=True)
                        if json.loads(out.stdout or b"{}").get("aliveworkers") == 2:
                            break
                    except ValueError:
                        pass
                    if time.time() > deadline:
                        raise RuntimeError("the Spark cluster did not come up")
                    time.sleep(0.25)
            p = int(mq["MQ_PORT"])
            conf += (
                "default_engines: {computing: spark, federation: rabbitmq, storage: file}\n"
                f"computing:\n  spark: {{cores: 16, master: '{master}', conf: {{spark.cores.max: 2, "
                "spark.executor.memory: 512m, spark.ui.showConsoleProgress: false}}\n"
                "job_default: {computing_partitions: 2}\n"
                f"federation:\n  rabbitmq: {{host: 127.0.0.1, port: {p}, mng_port: {mq['MQ_MNG_PORT']}, user: fate, "
                f"password: fate, mode: replication,\n    route_table: {{9999: {{host: 127.0.0.1, port: {p}}}, "
                f"10000: {{host: 127.0.0.1, port: {p}}}}}}}\nroutes: {{'10000': local}}\n"
            )
        else:
            conf += "job_default: {computing_partitions: 2}\n"
        (d / "service_conf.yaml").write_text(conf)
        port = free_port()
        site = start_group([a.ferroflow, "serve", "--port", str(port), "--party-id", "9999", "--data-dir",
                            str(d / "site"), "--config", str(d / "service_conf.yaml")], d / "server.log")
        procs.append(site)
        deadline = time.time() + 60
        while subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/v2/server/fateflow"],
                             capture_output=True).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("the site did not start")
            time.sleep(0.2)
        beam = Peak(lambda: [x.pid for x in procs] + mq_pids(broker))
        beam.start()
        job = [py, ROOT / "crates/cli/tests/pyfate/pipeline_job.py", "--port", str(port),
               "--guest-csv", a.guest, "--host-csv", a.host, "--epochs", str(a.epochs),
               "--batch-size", a.batch_size]
        t0 = time.time()
        subprocess.run([*job, "--upload-only"], check=True, capture_output=True, cwd=d)
        t1 = time.time()
        r = subprocess.run([*job, "--no-upload", "--fit-only", "--out", d / "r.json"], capture_output=True,
                           cwd=d)
        t2 = time.time()
        beam.stop.set()
        beam.join()
        if r.returncode != 0:
            raise RuntimeError(f"{mode}: the pipeline failed: {r.stderr.decode()[-2000:]}")
        auc = json.loads((d / "r.json").read_text())["auc"]
        return {"mode": mode, "upload": t1 - t0, "fit": t2 - t1, "peak": beam.peak, "auc": auc}
    finally:
        for p in procs:
            kill_group(p)
        if broker:
            subprocess.run([ROOT / "ci/rabbitmq.sh", "stop", broker[0]], env={**env, **broker[1]},
                           capture_output=True)


def mq_pids(broker):
    if not broker:
        return []
    try:
        return [int((broker[0] / "server.pid").read_text())]
    except (OSError, ValueError):
        return []


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ferroflow", required=True)
    p.add_argument("--modes", default="standalone,local2,cluster")
    p.add_argument("--rows", type=int, default=569)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", default="300", help="coordinated_lr's batch: rows, or `full`")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ferroflow-spark-bench-"))
    a.guest, a.host = str(DATA / "breast_hetero_guest.csv"), str(DATA / "breast_hetero_host.csv")
    if a.rows > 569:
        for side in ("guest", "host"):
            dst = work / f"breast_{side}_{a.rows}.csv"
            replicate(DATA / f"breast_hetero_{side}.csv", dst, a.rows)
            setattr(a, side, str(dst))
    print(f"| engine | rows per party | uploads (s) | fit: submit → success (s) | peak memory (MiB) | AUC |")
    print("|---|---:|---:|---:|---:|---:|")
    names = {"standalone": "standalone", "local2": "Spark local[2]", "cluster": "Spark cluster (2 workers)"}
    try:
        for mode in a.modes.split(","):
            r = run_mode(mode, a, work)
            print(f"| {names[mode]} | {a.rows} | {r['upload']:.1f} | {r['fit']:.1f} | {r['peak'] / 2**20:.0f} "
                  f"| {r['auc']:.6f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
