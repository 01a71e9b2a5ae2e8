"""The steps of the compatibility suite (run by suite.py), in the order a user meets them."""

import csv
import json
import math
import os
import tarfile
import time
import zipfile

from suite import GUEST, HOST, ROWS, check, error_of, ok


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def find_files(root, name):
    return [os.path.join(d, n) for d, _, files in os.walk(root) for n in files if n == name]


def run(s):
    st = s.state
    guest_csv, host_csv = s.sample_files()

    # --- init, version, site, server ----------------------------------------------------
    def init():
        r = s.init_flow(s.site)
        ok(r, "flow init")
        from fate_client.flow_cli.flow import config_path
        from ruamel import yaml

        conf = yaml.safe_load(open(config_path))["flow_service"]
        check(str(conf["port"]) == str(s.site.port) and conf["ip"] == s.site.ip, "settings.yaml not written", conf)
        out = s.flow("version", raw=True)
        check(out.stdout.strip() == "2.2.0", "flow version", out.stdout)

    s.step("cli init, version", init)

    def init_unreachable():
        r = s.flow("init", "--ip", "127.0.0.1", "--port", "1")
        check(r.get("code") == 100 and "Unable to connect" in r.get("retmsg", ""), "init of a closed port", r)
        ok(s.init_flow(s.site), "flow init again")

    s.step("cli init refuses an unreachable server", init_unreachable)

    def site_query():
        r = s.flow("site", "query")
        # A standalone site answers 3000 (the SDK then uses its own party id), as FATE Flow.
        check(r.get("code") in (0, 3000), "flow site query", r)
        if r["code"] == 0:
            check(str(r["data"]["party_id"]) == GUEST, "site party id", r)
        else:
            check("standalone" in r.get("message", ""), "flow site query message", r)
        check(s.client.site.info() == r, "FlowClient site.info differs from the CLI", r)

    s.step("cli site query / sdk site.info", site_query)

    def server_info():
        r = ok(s.flow("server", "info"), "flow server info")
        text = json.dumps(r["data"])
        check(str(s.site.port) in text, "server info does not name this instance's port", r)
        ok(s.client.service.get_fateflow_info(), "FlowClient service.get_fateflow_info")

    s.step("cli server info / sdk service", server_info)

    # --- providers ----------------------------------------------------------------------
    def provider_query():
        r = ok(s.flow("provider", "query", "--name", "demo"), "flow provider query --name demo")
        check(len(r["data"]) >= 1, "the demo provider is not listed", r)
        d = r["data"][0]
        check(d["name"] == "demo" and d["device"] == "local", "demo provider record", d)
        st["demo_version"] = d["version"]
        check(d["provider_name"] == f"demo:{d['version']}@local", "demo provider name", d)
        r2 = ok(s.client.provider.query(name="fate_flow"), "FlowClient provider.query fate_flow")
        check(len(r2["data"]) == 1 and r2["data"][0]["name"] == "fate_flow", "fate_flow provider", r2)
        empty = ok(s.flow("provider", "query", "--name", "no_such_provider"), "query of an unknown provider")
        check(empty.get("data") in ([], None), "an unknown provider is listed", empty)

    s.step("cli provider query / sdk provider.query", provider_query)

    def provider_register_delete():
        conf = {"name": "demo", "device": "local", "version": "0.0.1-compat",
                "metadata": {"path": s.root}}
        r = s.flow("provider", "register", "-c", s.write("provider.json", conf))
        ok(r, "flow provider register")
        q = ok(s.flow("provider", "query", "--name", "demo", "--version", "0.0.1-compat"), "query registered")
        check(len(q["data"]) == 1 and q["data"][0]["version"] == "0.0.1-compat", "registered provider not found", q)
        ok(s.flow("provider", "delete", "--name", "demo", "--version", "0.0.1-compat", "--device", "local"),
           "flow provider delete")
        q = ok(s.flow("provider", "query", "--name", "demo", "--version", "0.0.1-compat"), "query deleted")
        check(q.get("data") in ([], None), "deleted provider still listed", q)
        # The same through the SDK.
        ok(s.client.provider.register(**conf), "FlowClient provider.register")
        ok(s.client.provider.delete(provider_name="demo:0.0.1-compat@local"), "FlowClient provider.delete by name")
        q = ok(s.client.provider.query(provider_name="demo:0.0.1-compat@local"), "FlowClient provider.query")
        check(q.get("data") in ([], None), "provider deleted through the SDK still listed", q)

    s.step("cli provider register, delete / sdk", provider_register_delete)

    # --- data: uploads, tables ----------------------------------------------------------
    def upload_file():
        conf = {"file": guest_csv, "head": True, "partitions": 4, "meta": {"delimiter": ","},
                "namespace": "compat", "name": "guest"}
        r = ok(s.flow("data", "upload-file", "-c", s.write("upload_guest.json", conf)), "flow data upload-file")
        check(r.get("job_id") and r["data"]["name"] == "guest", "upload answer", r)
        s.wait_job(r["job_id"], role="local", party_id="0")
        t = ok(s.flow("table", "query", "-ns", "compat", "-n", "guest"), "flow table query")
        check(t["data"]["count"] == ROWS, "uploaded table's row count", t)
        st["guest_table"] = {"namespace": "compat", "name": "guest"}

    s.step("cli data upload-file (multipart), table query", upload_file)

    def upload_server_file():
        conf = {"file": host_csv, "head": True, "partitions": 4, "meta": {"delimiter": ","},
                "namespace": "compat", "name": "host"}
        r = ok(s.flow("data", "upload", "-c", s.write("upload_host.json", conf)), "flow data upload")
        s.wait_job(r["job_id"], role="local", party_id="0")
        t = ok(s.client.table.query(namespace="compat", name="host"), "FlowClient table.query")
        check(t["data"]["count"] == ROWS, "uploaded table's row count", t)
        st["host_table"] = {"namespace": "compat", "name": "host"}

    s.step("cli data upload (server file) / sdk table.query", upload_server_file)

    def upload_sdk():
        r = ok(s.client.data.upload_file(file=guest_csv, head=True, partitions=2, meta={"delimiter": ","},
                                         namespace="compat", name="guest_sdk"), "FlowClient data.upload_file")
        s.wait_job(r["job_id"], role="local", party_id="0")
        r = ok(s.client.data.upload(file=host_csv, head=True, partitions=2, meta={"delimiter": ","},
                                    namespace="compat", name="host_sdk"), "FlowClient data.upload")
        s.wait_job(r["job_id"], role="local", party_id="0")
        for n in ("guest_sdk", "host_sdk"):
            t = ok(s.client.table.query(namespace="compat", name=n), f"table {n}")
            check(t["data"]["count"] == ROWS, f"table {n} row count", t)

    s.step("sdk data.upload_file, data.upload", upload_sdk)

    def upload_missing_file():
        missing = os.path.join(s.site.data, "no_such_file.csv")
        conf = {"file": missing, "head": True, "partitions": 1, "meta": {"delimiter": ","},
                "namespace": "compat", "name": "missing"}
        r = s.flow("data", "upload", "-c", s.write("upload_missing.json", conf))
        check(r.get("code") not in (0, None), "upload of a missing file was accepted", r)
        check("no_such_file.csv" in r.get("message", ""), "the error does not name the file", r)
        check("job_id" not in r or not r["job_id"], "a job was created for a missing file", r)
        t = s.flow("table", "query", "-ns", "compat", "-n", "missing")
        check(t.get("code") != 0, "a table exists for a missing file", t)
        st["missing_file_error"] = r

    s.step("cli data upload of a missing file: clear error, no job, no table", upload_missing_file)

    def upload_not_a_table():
        bad = os.path.join(s.site.data, "semicolons.csv")
        with open(bad, "w") as f:
            f.write("id;y;x0\n1;0;0.5\n2;1;0.7\n")
        conf = {"file": bad, "head": True, "partitions": 1, "meta": {"delimiter": ","},
                "namespace": "compat", "name": "semicolons"}
        r = s.flow("data", "upload", "-c", s.write("upload_bad.json", conf))
        check(r.get("code") not in (0, None) and not r.get("job_id"), "a file with another delimiter was accepted", r)
        check("semicolons.csv" in r.get("message", "") and ";" in r.get("message", ""),
              "the error names neither the file nor the likely delimiter", r)
        st["bad_delimiter_error"] = r

    s.step("cli data upload of a file with another delimiter: clear error, no job", upload_not_a_table)

    def table_bind_display_delete():
        r = ok(s.flow("table", "bind", "-ns", "compat", "-n", "bound", "-o", host_csv), "flow table bind")
        t = ok(s.flow("table", "query", "-ns", "compat", "-n", "bound", "-d", "1"), "table query --display")
        check(t["data"]["count"] == ROWS and t["data"].get("engine") in ("path", "PATH"), "bound table", t)
        ok(s.flow("table", "delete", "-ns", "compat", "-n", "bound"), "flow table delete")
        t = s.flow("table", "query", "-ns", "compat", "-n", "bound")
        check(t.get("code") != 0, "a deleted table is still found", t)
        check(os.path.exists(host_csv), "deleting a bound table deleted its file")
        ok(s.client.table.bind_path(namespace="compat", name="bound_sdk", path=host_csv), "FlowClient bind_path")
        ok(s.client.table.delete(namespace="compat", name="bound_sdk"), "FlowClient table.delete")
        _ = r

    s.step("cli table bind, query --display, delete / sdk", table_bind_display_delete)

    def data_download():
        out = os.path.join(s.root, "download_cli")
        r = ok(s.flow("data", "download", "-ns", "compat", "-n", "guest", "-o", out), "flow data download")
        files = find_files(out, "0.csv") or glob_csv(out)
        check(files, "no CSV in the download", r)
        rows = read_csv(files[0])
        check(len(rows) == ROWS + 1 and rows[0][0] == "id", "downloaded table", rows[:2])
        orig = read_csv(guest_csv)
        check(sorted(rows[1:]) == sorted(orig[1:]), "downloaded rows differ from the uploaded file")
        out2 = os.path.join(s.root, "download_sdk")
        ok(s.client.data.download(namespace="compat", name="host", path=out2), "FlowClient data.download")
        check(find_files(out2, "0.csv") or glob_csv(out2), "SDK download wrote nothing")

    s.step("cli data download / sdk data.download", data_download)

    def download_component():
        out = os.path.join(s.site.data, "download_component")
        r = ok(s.flow("data", "download-component", "-ns", "compat", "-n", "host", "-o", out),
               "flow data download-component")
        s.wait_job(r["job_id"], role="local", party_id="0")
        files = find_files(out, "0.csv")
        check(files, "download component wrote no 0.csv", r)
        check(len(read_csv(files[0])) == ROWS + 1, "download component rows")
        r = s.client.data.download_component(namespace="compat", name="no_such_table",
                                             path=os.path.join(s.site.data, "nothing"))
        check(r.get("code") not in (0, None), "download of an unknown table accepted", r)

    s.step("cli data download-component / sdk", download_component)

    def transformer():
        conf = {"namespace": "compat", "name": "guest_df", "data_warehouse": {"namespace": "compat", "name": "guest"}}
        r = ok(s.flow("data", "transformer", "-c", s.write("transformer.json", conf)), "flow data transformer")
        s.wait_job(r["job_id"], role="local", party_id="0")
        t = ok(s.flow("table", "query", "-ns", "compat", "-n", "guest_df"), "transformed table")
        check(t["data"]["count"] == ROWS, "transformed table's rows", t)
        r = ok(s.client.data.dataframe_transformer(namespace="compat", name="host_df",
                                                   data_warehouse={"namespace": "compat", "name": "host"}),
               "FlowClient data.dataframe_transformer")
        s.wait_job(r["job_id"], role="local", party_id="0")

    s.step("cli data transformer / sdk", transformer)

    # --- jobs ---------------------------------------------------------------------------
    def submit_train():
        dag = s.with_readers(s.train_dag(), {"namespace": "compat", "name": "guest"},
                             {"namespace": "compat", "name": "host"})
        r = ok(s.flow("job", "submit", "-c", s.write("train.json", dag)), "flow job submit")
        job = r.get("job_id")
        check(job and r["data"].get("model_id"), "submit answer has no job id / model id", r)
        s.wait_job(job)
        st["train"] = job
        st["model"] = (r["data"]["model_id"], str(r["data"]["model_version"]))
        q = ok(s.flow("job", "query", "-j", job, "-r", "guest", "-p", GUEST), "flow job query")
        check(q["data"][0]["status"] == "success" and q["data"][0]["job_id"] == job, "job query", q)
        for role, party in (("guest", GUEST), ("host", HOST)):
            tasks = ok(s.flow("task", "query", "-j", job, "-r", role, "-p", party), "flow task query")["data"]
            names = sorted(t["task_name"] for t in tasks)
            check(names == ["reader_0", "train_0", "transform_0"], f"{role}'s tasks", names)
            check(all(t["status"] == "success" for t in tasks), f"{role}'s task statuses", tasks)

    s.step("cli job submit, job query, task query: the job ran on guest and host", submit_train)

    def job_list_notes():
        job = st["train"]
        r = ok(s.flow("job", "list", "-l", "50"), "flow job list")
        jobs = r["data"]["data"]
        check(r["data"]["count"] >= 1 and any(j["job_id"] == job for j in jobs), "the job is not in the list", r)
        r = ok(s.flow("job", "list", "-j", job, "-r", "host", "-p", HOST, "-s", "success"), "job list filtered")
        jobs = r["data"]["data"]
        check([j["job_id"] for j in jobs] == [job], "filtered job list", r)
        ok(s.flow("job", "add-notes", "-j", job, "-r", "guest", "-p", GUEST, "--notes", "compat notes"),
           "flow job add-notes")
        q = ok(s.client.job.query(job_id=job, role="guest", party_id=GUEST), "FlowClient job.query")
        check("compat notes" in json.dumps(q["data"][0]), "the notes are not on the job", q["data"][0])
        ok(s.client.job.add_notes(job_id=job, role="host", party_id=HOST, notes="host notes"), "sdk add_notes")
        lst = ok(s.client.job.query_job_list(job_id=job, limit=5), "FlowClient job.query_job_list")
        check(job in json.dumps(lst["data"]), "sdk job list", lst)

    s.step("cli job list, add-notes / sdk job.query, add_notes, query_job_list", job_list_notes)

    def task_list():
        job = st["train"]
        r = ok(s.flow("task", "list", "-j", job, "-l", "20"), "flow task list")
        tasks = r["data"]["data"]
        check(len(tasks) >= 6, "task list: every party's tasks", r)
        r = ok(s.client.task.query_task_list(job_id=job, role="guest", party_id=GUEST, task_name="train_0"),
               "FlowClient task.query_task_list")
        tasks = r["data"]["data"]
        check(len(tasks) == 1 and tasks[0]["task_name"] == "train_0", "task list filtered", r)
        r = ok(s.client.task.query(job_id=job, role="guest", party_id=GUEST, task_name="train_0", status="success"),
               "FlowClient task.query")
        check(len(r["data"]) == 1, "sdk task query", r)

    s.step("cli task list / sdk task.query, query_task_list", task_list)

    def dependency():
        job = st["train"]
        r = ok(s.flow("job", "dependency", "-j", job, "-r", "guest", "-p", GUEST), "flow job dependency")
        text = json.dumps(r["data"])
        check("transform_0" in text and "reader_0" in text and "train_0" in text, "dependency graph", r)
        deps = r["data"].get("dependencies", {})
        if deps:
            up = json.dumps(deps.get("train_0"))
            check("transform_0" in up, "train_0 does not depend on transform_0", deps)
        ok(s.client.job.dag_dependency(job_id=job, role="host", party_id=HOST), "FlowClient job.dag_dependency")

    s.step("cli job dependency / sdk", dependency)

    # --- outputs ------------------------------------------------------------------------
    def metrics():
        job = st["train"]
        r = ok(s.flow("output", "query-metric-key", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0"),
               "flow output query-metric-key")
        check("loss" in json.dumps(r["data"]), "metric keys do not name loss", r)
        r = ok(s.flow("output", "query-metric", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0"),
               "flow output query-metric")
        losses = []
        for m in r["data"]:
            if m.get("name") == "loss":
                for d in m["data"]:
                    losses.append((d["step"], d["metric"][0] if isinstance(d["metric"], list) else d["metric"]))
        losses.sort()
        check(len(losses) == 5, "five loss values (max_iter 5)", r)
        check(abs(losses[0][1] - math.log(2)) < 1e-6, "the first loss is ln 2", losses)
        check(losses[-1][1] < losses[0][1], "the loss went down", losses)
        st["losses"] = losses
        sdk = ok(s.client.output.query_metric(job_id=job, role="guest", party_id=GUEST, task_name="train_0"),
                 "FlowClient output.query_metric")
        check(sdk["data"] == r["data"], "SDK metrics differ from the CLI's")
        ok(s.client.output.query_metric_key(job_id=job, role="guest", party_id=GUEST, task_name="train_0"),
           "FlowClient output.query_metric_key")

    s.step("cli output query-metric-key, query-metric: the loss curve / sdk", metrics)

    def model_query_download():
        job = st["train"]
        r = ok(s.flow("output", "query-model", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0"),
               "flow output query-model")
        text = json.dumps(r["data"])
        check("coefficients" in text and "logistic_regression" in text, "query-model: not the trained model", r)
        model = find_key(r["data"], "coefficients")
        check(model is not None, "no model JSON", r)
        out = os.path.join(s.root, "model_cli")
        d = ok(s.flow("output", "download-model", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0", "-o", out),
               "flow output download-model")
        files = [f for f in walk(out) if os.path.basename(f) == "output_model"]
        check(files, "the downloaded archive has no output_model", d)
        saved = json.load(open(files[0]))
        diff = {k: (saved.get(k), model.get(k)) for k in set(saved) | set(model) if saved.get(k) != model.get(k)}
        check(not diff, "the downloaded model is not the one query-model shows", diff)
        check(len(saved["losses"]) == 5 and abs(saved["losses"][0] - st["losses"][0][1]) < 1e-9,
              "the model's losses are not the metric's")
        out2 = os.path.join(s.root, "model_sdk")
        ok(s.client.output.download_model(job_id=job, role="guest", party_id=GUEST, task_name="train_0", path=out2),
           "FlowClient output.download_model")
        check([f for f in walk(out2) if os.path.basename(f) == "output_model"], "SDK model download")
        st["model_json"] = saved

    s.step("cli output query-model, download-model: the saved model / sdk", model_query_download)

    def output_data():
        job = st["train"]
        # FATE Flow answers these two with bare objects (no code/message): so does ferroflow.
        r = s.flow("output", "query-data-table", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0")
        tables = r.get("train_output_data") or []
        check(len(tables) == 1 and tables[0]["namespace"].endswith("_train_0"), "query-data-table", r)
        t = ok(s.flow("table", "query", "-ns", tables[0]["namespace"], "-n", tables[0]["name"]), "the output table")
        check(t["data"]["count"] == ROWS, "the output table's rows", t)
        r = s.flow("output", "display-data", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "transform_0")
        check("output_data" in r and "x0" in json.dumps(r), "display-data shows no rows", r)
        out = os.path.join(s.root, "data_cli")
        d = ok(s.flow("output", "download-data", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0", "-o", out),
               "flow output download-data")
        csvs = [f for f in walk(out) if f.endswith(".csv")]
        check(csvs, "no CSV downloaded", d)
        rows = read_csv(csvs[0])
        check(len(rows) == ROWS + 1 and "predict_score" in rows[0], "predictions table", rows[:2])
        out2 = os.path.join(s.root, "data_sdk")
        ok(s.client.output.download_data(job_id=job, role="guest", party_id=GUEST, task_name="transform_0",
                                         path=out2), "FlowClient output.download_data")
        rows = read_csv([f for f in walk(out2) if f.endswith(".csv")][0])
        g = read_csv(guest_csv)
        i = g[0].index("x0")
        check(abs(float(rows[1][rows[0].index("x0")]) - 2 * float(g[1][i])) < 1e-6 or
              sorted(float(r[rows[0].index("x0")]) for r in rows[1:]) ==
              sorted(2 * float(r[i]) for r in g[1:]), "transform_0 did not scale x0 by 2")
        r = s.client.output.data_table(job_id=job, role="host", party_id=HOST, task_name="reader_0")
        check("output_data" in r, "sdk data_table", r)
        r = s.client.output.data_display(job_id=job, role="host", party_id=HOST, task_name="reader_0")
        check("x5" in json.dumps(r), "sdk data_display: the host's columns", r)

    s.step("cli output query-data-table, display-data, download-data / sdk", output_data)

    def logs():
        job = st["train"]
        r = ok(s.flow("log", "count", "--log-type", "task_info", "-j", job, "-r", "guest", "-p", GUEST,
                      ), "flow log count")
        _ = r
        r = ok(s.flow("log", "query", "--log-type", "task_info", "-j", job, "-r", "guest", "-p", GUEST,
                      "-tn", "train_0"), "flow log query")
        check(r["data"], "no log lines for train_0", r)
        c = ok(s.client.log.count(log_type="task_info", job_id=job, role="guest", party_id=GUEST, task_name="train_0"),
               "FlowClient log.count")
        check(isinstance(c["data"], int) and c["data"] >= len(r["data"]) > 0, "log count", c)
        out = os.path.join(s.root, "logs_cli")
        ok(s.flow("job", "download-log", "-j", job, "-o", out), "flow job download-log")
        check(any("train_0" in f for f in walk(out)), "downloaded logs have no train_0 files", walk(out)[:5])
        out2 = os.path.join(s.root, "logs_sdk")
        ok(s.client.job.download_log(job_id=job, path=out2), "FlowClient job.download_log")
        check(walk(out2), "SDK log download wrote nothing")

    s.step("cli log count, log query, job download-log / sdk", logs)

    # --- models -------------------------------------------------------------------------
    def model_export_import_delete():
        mid, mv = st["model"]
        out = os.path.join(s.root, "export_cli")
        r = ok(s.flow("model", "export", "-mid", mid, "-mv", mv, "-r", "guest", "-p", GUEST, "-o", out),
               "flow model export")
        zips = [f for f in walk(out) if f.endswith(".zip")] or [f for f in walk(out)]
        check(zips, "model export wrote nothing", r)
        members = zipfile.ZipFile(zips[0]).namelist() if zipfile.is_zipfile(zips[0]) else []
        check(members, "the export is not a zip with members", zips)
        ok(s.flow("model", "import", "-mid", "compat_model", "-mv", "7", "-i", zips[0]), "flow model import")
        ok(s.client.model.export(role="guest", model_id="compat_model", model_version="7", party_id=GUEST,
                                 path=os.path.join(s.root, "export_sdk")), "FlowClient model.export of the import")
        again = [f for f in walk(os.path.join(s.root, "export_sdk")) if zipfile.is_zipfile(f)]
        check(again, "export of the imported model wrote nothing")
        model_of = lambda z: sorted(  # noqa: E731
            (n, zipfile.ZipFile(z).read(n)) for n in zipfile.ZipFile(z).namelist())
        a = [tar_member(b, "output_model") for _, b in model_of(zips[0])]
        b = [tar_member(x, "output_model") for _, x in model_of(again[0])]
        check([x for x in a if x] == [x for x in b if x] and any(a), "the imported model is not the exported one")
        ok(s.flow("model", "delete", "-mid", "compat_model", "-mv", "7"), "flow model delete")
        r = s.client.model.export(role="guest", model_id="compat_model", model_version="7", party_id=GUEST,
                                  path=os.path.join(s.root, "export_gone"))
        check(r.get("code") != 0 or not walk(os.path.join(s.root, "export_gone")), "a deleted model exports", r)
        for fn in ("load", "store", "restore"):
            ok(getattr(s.client.model, fn)(), f"FlowClient model.{fn}")

    s.step("cli model export, import, delete: the same model back / sdk", model_export_import_delete)

    def output_deletes():
        job = st["train"]
        ok(s.flow("output", "delete-metric", "-j", job, "-r", "host", "-p", HOST, "-tn", "train_0"),
           "flow output delete-metric")
        ok(s.flow("output", "delete-metric", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0"),
           "flow output delete-metric")
        r = s.flow("output", "query-metric", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0")
        check(r.get("code") != 0 or not r.get("data"), "metrics still there after delete-metric", r)
        ok(s.flow("output", "delete-model", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0"),
           "flow output delete-model")
        r = s.flow("output", "query-model", "-j", job, "-r", "guest", "-p", GUEST, "-tn", "train_0")
        check(r.get("code") != 0 or not r.get("data"), "model still there after delete-model", r)
        # The host trains nothing (it has no label): it has no model to delete.
        error_of(s.client.output.delete_model(job_id=job, role="host", party_id=HOST, task_name="train_0"),
                 2005, ["No found output model"], "FlowClient output.delete_model of no model")
        ok(s.client.output.delete_metric(job_id=job, role="host", party_id=HOST, task_name="train_0"),
           "FlowClient output.delete_metric")

    s.step("cli output delete-metric, delete-model / sdk", output_deletes)

    # --- job control --------------------------------------------------------------------
    def stop():
        dag = s.dag({"sleep_0": {"component_ref": "demo_sleep", "parameters": {"seconds": 60}}})
        r = ok(s.flow("job", "submit", "-c", s.write("sleep.json", dag)), "submit a 60 s job")
        job = r["job_id"]
        deadline = time.time() + 30
        while time.time() < deadline:
            q = s.client.job.query(job_id=job, role="guest", party_id=GUEST)
            if q.get("data") and q["data"][0]["status"] == "running":
                break
            time.sleep(0.2)
        ok(s.flow("job", "stop", "-j", job), "flow job stop")
        st["stopped"] = job
        s.wait_job(job, want=("canceled",), timeout=30)
        tasks = ok(s.client.task.query(job_id=job, role="host", party_id=HOST), "task query")["data"]
        check(all(t["status"] == "canceled" for t in tasks), "host's task was not canceled", tasks)
        r = ok(s.client.job.submit(dag_schema=dag), "FlowClient job.submit")
        ok(s.client.job.stop(job_id=r["job_id"]), "FlowClient job.stop")
        s.wait_job(r["job_id"], want=("canceled",), timeout=30)

    s.step("cli job stop: the job is canceled on every party / sdk", stop)

    def rerun():
        dag = s.dag({"flaky_0": {"component_ref": "demo_sleep", "parameters": {"seconds": 0, "fail_times": 1}}})
        r = ok(s.flow("job", "submit", "-c", s.write("flaky.json", dag)), "submit a job failing once")
        job = r["job_id"]
        s.wait_job(job, want=("failed",))
        ok(s.flow("job", "rerun", "-j", job), "flow job rerun")
        rerun_succeeded(job)
        r = ok(s.client.job.submit(dag_schema=dag), "FlowClient job.submit")
        s.wait_job(r["job_id"], want=("failed",))
        ok(s.client.job.rerun(job_id=r["job_id"]), "FlowClient job.rerun")
        rerun_succeeded(r["job_id"])

    def rerun_succeeded(job):
        """The task's second version succeeds, then the job is `success` again."""
        deadline = time.time() + 60
        tasks = []
        while time.time() < deadline:
            tasks = s.client.task.query(job_id=job, role="guest", party_id=GUEST, task_name="flaky_0").get("data") or []
            if any(int(t["task_version"]) >= 1 and t["status"] == "success" for t in tasks):
                break
            time.sleep(0.3)
        check(any(int(t["task_version"]) >= 1 and t["status"] == "success" for t in tasks), "the rerun version", tasks)
        s.wait_job(job)

    s.step("cli job rerun: a failed job succeeds on its second version / sdk", rerun)

    def clean():
        job = st["train"]
        ok(s.flow("job", "clean", "-j", job), "flow job clean")
        # Cleaning removes the job's rows, outputs and models on this site, as FATE Flow's does.
        error_of(s.flow("job", "query", "-j", job), 1001, [job], "query of a cleaned job")
        error_of(s.client.job.job_clean(job_id=job), 1001, [job], "FlowClient job.job_clean of a cleaned job")
        ok(s.client.job.job_clean(job_id=st["stopped"]), "FlowClient job.job_clean")
        ok(s.flow("job", "clean-queue"), "flow job clean-queue")
        ok(s.client.job.queue_clean(), "FlowClient job.queue_clean")

    s.step("cli job clean, clean-queue / sdk", clean)

    # --- errors a user reads ------------------------------------------------------------
    def unknown_job():
        r = s.flow("job", "query", "-j", "202001010000000000000")
        check(r.get("code") not in (0, None), "query of an unknown job succeeded", r)
        check("202001010000000000000" in r.get("message", ""), "the error does not name the job id", r)
        st["unknown_job_error"] = r
        r = s.flow("job", "stop", "-j", "202001010000000000000")
        check(r.get("code") not in (0, None) and "202001010000000000000" in r.get("message", ""),
              "stop of an unknown job", r)
        r = s.flow("output", "query-metric", "-j", "202001010000000000000", "-r", "guest", "-p", GUEST, "-tn", "x")
        check(r.get("code") != 0 or not r.get("data"), "metrics of an unknown job", r)

    s.step("errors: unknown job id named in the message", unknown_job)

    def cycle():
        def out(task):
            return {"data": {"input_data": {"task_output_artifact": {"producer_task": task,
                                                                     "output_artifact_key": "output_data"}}}}

        dag = s.dag({"a_0": {"component_ref": "demo_sleep", "inputs": out("b_0")},
                     "b_0": {"component_ref": "demo_sleep", "inputs": out("a_0")}})
        r = s.flow("job", "submit", "-c", s.write("cycle.json", dag))
        check(r.get("code") not in (0, None) and not r.get("job_id"), "a DAG with a cycle was accepted", r)
        msg = r.get("message", "")
        check("cycle" in msg and "a_0" in msg and "b_0" in msg, "the error does not name the cycle", r)
        st["cycle_error"] = r
        r = s.client.job.submit(dag_schema=s.dag({"x_0": {"component_ref": "no_such_component"}}))
        check(r.get("code") not in (0, None) and "no_such_component" in r.get("message", ""),
              "unknown component", r)

    s.step("errors: a DAG with a cycle, an unknown component refused at submit", cycle)

    def toy():
        out = s.flow("test", "toy", "-gid", GUEST, "-hid", HOST, "-t", "5", raw=True)
        text = out.stdout + out.stderr
        # The toy job runs FATE's `toy_example` of provider `fate`: a site without that provider
        # refuses it at submit, saying which.
        for words in ("toy_example_0", "the default provider", "is not registered", "guest 9999, host 10000"):
            check(words in text, f"flow test toy does not say {words!r}", text[-800:])
        st["toy_output"] = text.strip()

    s.step("cli test toy: refused with the reason on a site without FATE's provider", toy)

    # --- resource permissions (the admin app may grant them) ------------------------------
    def permission():
        conf = {"party_id": HOST, "component": "demo_train"}
        ok(s.flow("permission", "grant-resource", "-c", s.write("resource.json", conf)),
           "flow permission grant-resource")
        q = ok(s.flow("permission", "query-resource", "-p", HOST), "flow permission query-resource")
        check("demo_train" in json.dumps(q["data"]), "the granted component is not listed", q)
        ok(s.flow("permission", "delete-resource", "-c", s.write("resource.json", conf)),
           "flow permission delete-resource")
        q = ok(s.flow("permission", "query-resource", "-p", HOST), "flow permission query-resource")
        check("demo_train" not in json.dumps(q.get("data")), "a deleted grant is still listed", q)
        ok(s.client.permission.grant_resource(party_id=HOST, component="demo_train"), "sdk grant_resource")
        q = ok(s.client.permission.query_resource(party_id=HOST), "sdk query_resource")
        check("demo_train" in json.dumps(q["data"]), "granted resource not listed", q)
        ok(s.client.permission.delete_resource(party_id=HOST, component="demo_train"), "sdk delete_resource")
        ok(s.client.permission.query_role(), "FlowClient permission.query_role")

    s.step("cli permission resources grant/query/delete / sdk", permission)

    # --- apps and roles on a site with authentication off: restricted, as FATE Flow ------
    def client_apps():
        from fate_client.flow_sdk import FlowClient
        from suite import Site

        site3 = Site(s.binary, os.path.join(s.root, "open"))
        try:
            check(site3.app_id is None, "a loopback-only site without authentication wrote credentials")
            open_client = FlowClient(ip=site3.ip, port=site3.port, version="v2")
            for what, r in (
                ("sdk create_client", open_client.client_.create_client(app_name="compat")),
                ("sdk query_client", open_client.client_.query_client(app_name="compat")),
                ("sdk create_site", open_client.client_.create_site(party_id=HOST)),
                ("sdk create_partner", open_client.client_.create_partner(party_id=HOST, app_id="x",
                                                                          app_token="y")),
                ("sdk permission grant", open_client.permission.grant(app_id="a1", role="client")),
                ("sdk permission query", open_client.permission.query(app_id="a1")),
            ):
                error_of(r, 6001, ["restricted"], what)
            roles = ok(open_client.permission.query_role(), "sdk query_role")
            check(roles.get("data") == [], "roles listed with authentication off", roles)
        finally:
            site3.stop()

    s.step("sdk client apps, sites, partners, roles restricted on a site without authentication", client_apps)

    # --- the pipeline SDK ---------------------------------------------------------------
    def pipeline():
        import pipeline_demo

        result = pipeline_demo.fit_and_check(s.site.ip, s.site.port, st["guest_table"], st["host_table"],
                                             app_id=s.site.app_id, app_token=s.site.app_token)
        job = result["job_id"]
        for role, party in (("guest", GUEST), ("host", HOST)):
            tasks = ok(s.client.task.query(job_id=job, role=role, party_id=party), "task query")["data"]
            check(len(tasks) == 3 and all(t["status"] == "success" for t in tasks), f"pipeline job on {role}", tasks)
        model = ok(s.client.output.query_model(job_id=job, role="guest", party_id=GUEST, task_name="train_0"),
                   "pipeline model")
        check("coefficients" in json.dumps(model["data"]), "the pipeline's model", model)

    s.step("pipeline FateFlowPipeline with the demo components: compile, fit, outputs", pipeline)

    # --- apps and permissions with authentication on (a second site) --------------------
    def authentication():
        from suite import Site

        from fate_client.flow_sdk import FlowClient

        # The suite's own site refuses what is not signed, or signed with a wrong token.
        if s.site.app_id:
            unsigned = FlowClient(ip=s.site.ip, port=s.site.port, version="v2")
            error_of(unsigned.job.query(job_id="x"), 5001, ["appId"], "an unsigned call")
            error_of(unsigned.provider.query(), 5001, ["appId"], "an unsigned call")
            wrong = FlowClient(ip=s.site.ip, port=s.site.port, version="v2", app_id=s.site.app_id,
                               app_token="fate_flow_admin")
            error_of(wrong.provider.query(), 5003, ["varify failed"], "a wrong token")
            unknown = FlowClient(ip=s.site.ip, port=s.site.port, version="v2", app_id="nobody",
                                 app_token="x")
            error_of(unknown.provider.query(), 5002, ["nobody"], "an unknown app")
            s.flow("init", "--ip", s.site.ip, "--port", str(s.site.port), "--app-id", s.site.app_id,
                         "--app-token", "wrong")
            r = s.flow("provider", "query")
            error_of(r, 5003, ["varify failed"], "flow with a wrong token")
            ok(s.init_flow(s.site), "flow init with the admin app again")
            ok(s.flow("provider", "query"), "flow with the admin app")

        site2 = Site(s.binary, os.path.join(s.root, "auth"), "authentication:\n  client: true\n  site: true\n")
        try:
            # The admin app exists on such a site, with a token of its own (never FATE's
            # well-known one), written to credentials/admin.json.
            check(site2.app_id == "admin" and site2.app_token and site2.app_token != "fate_flow_admin",
                  "admin credentials", [site2.app_id])
            ok(s.init_flow(site2), "flow init with an app")
            r = ok(s.flow("client", "create-client", "--app-name", "compat"), "flow client create-client")
            app_id = r["data"]["app_id"]
            check(r["data"].get("app_token"), "create-client gives no token", r)
            q = ok(s.flow("client", "query-client", "--app-id", app_id), "flow client query-client")
            check("compat" in json.dumps(q["data"]), "the new client app is not listed", q)
            ok(s.flow("permission", "grant", "--app-id", app_id, "-r", "client"), "flow permission grant")
            q = ok(s.flow("permission", "query", "--app-id", app_id), "flow permission query")
            check("client" in json.dumps(q["data"]), "the granted role is not listed", q)
            ok(s.flow("permission", "delete", "--app-id", app_id, "-r", "client"), "flow permission delete")
            q = s.flow("permission", "query", "--app-id", app_id)
            check("client" not in json.dumps(q.get("data")), "a deleted role is still listed", q)
            ok(s.flow("client", "delete-client", "--app-id", app_id), "flow client delete-client")
            q = s.flow("client", "query-client", "--app-id", app_id)
            check(app_id not in json.dumps(q.get("data")), "a deleted client app is still listed", q)
            ok(s.flow("client", "create-site", "-p", HOST), "flow client create-site")
            q = ok(s.flow("client", "query-site", "-p", HOST), "flow client query-site")
            check(HOST in json.dumps(q["data"]), "the site app is not listed", q)
            ok(s.flow("client", "delete-site", "-p", HOST), "flow client delete-site")
            ok(s.flow("client", "create-partner", "-p", "10001", "--app-id", "partner_app", "--app-token",
                      "partner_token"), "flow client create-partner")
            q = ok(s.flow("client", "query-partner", "-p", "10001"), "flow client query-partner")
            check("partner_app" in json.dumps(q["data"]), "the partner app is not listed", q)
            ok(s.flow("client", "delete-partner", "-p", "10001"), "flow client delete-partner")
            q = ok(s.flow("client", "query-client", "--app-name", "admin"), "flow client query-client admin")
            check(site2.app_token not in json.dumps(q), "a token in a query answer", q)
            admin = FlowClient(ip=site2.ip, port=site2.port, version="v2", app_id=site2.app_id,
                               app_token=site2.app_token)
            r = ok(admin.client_.create_client(app_name="compat_sdk"), "FlowClient client_.create_client")
            ok(admin.permission.grant(app_id=r["data"]["app_id"], role="client"), "FlowClient permission.grant")
            ok(admin.permission.query(app_id=r["data"]["app_id"]), "FlowClient permission.query")
            roles = ok(admin.permission.query_role(), "FlowClient permission.query_role")
            check("client" in json.dumps(roles["data"]), "query_role lists no client role", roles)
            ok(admin.client_.delete_client(app_id=r["data"]["app_id"]), "FlowClient client_.delete_client")
            same_headers(admin)
        finally:
            site2.stop()
            s.init_flow(s.site)

    s.step("cli client apps, sites, partners, permission roles on a site with authentication / sdk",
           authentication)


def same_headers(client):
    """fate_client signs with 4 random digits and a whole-second timestamp, so an app's honest
    calls share their headers now and then. With the nonce and the second held fixed, every
    distinct call is answered; only the same command sent again is refused, and done once."""
    import types
    from unittest import mock

    from fate_client.flow_sdk.utils import base_utils

    second = time.time()
    fixed = types.SimpleNamespace(time=lambda: second)
    with mock.patch.object(base_utils, "time", fixed), mock.patch.object(base_utils.random, "randint",
                                                                         lambda a, b: 4242):
        for what, r in [
            ("provider.query", client.provider.query()),
            ("provider.query again", client.provider.query()),
            ("permission.query_role", client.permission.query_role()),
            ("client_.query_client", client.client_.query_client(app_name="admin")),
        ]:
            ok(r, f"{what} with shared headers")
        made = [ok(client.client_.create_client(app_name=name), f"create_client {name} with shared headers")
                for name in ("twin_a", "twin_b")]
        error_of(client.client_.create_client(app_name="twin_a"), 5003, ["replay"],
                 "the same create_client sent again")
    twins = ok(client.client_.query_client(app_name="twin_a"), "query twin_a")
    check(len(twins["data"]) == 1, "a command refused as sent again was carried out", twins)
    for r in made:
        ok(client.client_.delete_client(app_id=r["data"]["app_id"]), "delete a twin")


def glob_csv(root):
    return [f for f in walk(root) if f.endswith(".csv")]


def walk(root):
    return sorted(os.path.join(d, n) for d, _, files in os.walk(root) for n in files)


def find_key(v, key):
    if isinstance(v, dict):
        if key in v:
            return v
        v = list(v.values())
    if isinstance(v, list):
        for x in v:
            f = find_key(x, key)
            if f is not None:
                return f
    return None


def tar_member(blob, name):
    import io

    try:
        with tarfile.open(fileobj=io.BytesIO(blob)) as t:
            for m in t.getmembers():
                if os.path.basename(m.name) == name:
                    return t.extractfile(m).read()
    except tarfile.TarError:
        return None
    return None




def what_users_read(s):
    """The messages of the error steps, printed after the results (the suite's log shows them)."""
    for key in ("unknown_job_error", "cycle_error", "missing_file_error", "bad_delimiter_error", "toy_output"):
        if key in s.state:
            v = s.state[key]
            print(f"  {key}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}")
