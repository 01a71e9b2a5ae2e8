"""FATE's pipeline SDK (fate_client 2.2) against one site of a two-site deployment.

    python ic_job.py upload --port P --csv F --name N [--label] [--partitions N]
    python ic_job.py fit    --port P --party SITE --scheduler S [--epochs N] --out result.json
    python ic_job.py submit --port P --party SITE --scheduler S [--epochs N] --out result.json

`upload` puts a table on the site for its own party (the SDK's multipart upload, then polling
the local job). `fit` compiles reader -> psi -> coordinated_lr -> evaluation for guest 9999,
host 10000, arbiter 9999 with `scheduler_party_id` S and runs it to the end as a user does
(the SDK raises unless the job succeeds, watching the job as the role of party SITE, the
party of the site on P); `submit` only submits it. Both write {job_id} to --out.
"""

import argparse
import json
import sys

GUEST, HOST, ARBITER = "9999", "10000", "9999"
NAMESPACE = "interconnect"


def connect(port):
    # The SDK reads its server from its installed settings.yaml; point it at this site.
    from fate_client.pipeline.conf.env_config import FlowConfig

    FlowConfig.IP = "127.0.0.1"
    FlowConfig.PORT = port


def upload(a):
    from fate_client.pipeline import FateFlowPipeline

    meta = {"delimiter": ",", "match_id_name": "id"}
    if a.label:
        meta["label_name"] = "y"
    FateFlowPipeline().transform_local_file_to_dataframe(
        file=a.csv,
        head=True,
        namespace=NAMESPACE,
        name=a.name,
        meta=meta,
        extend_sid=True,
        partitions=a.partitions,
    )


def pipeline(a):
    from fate_client.pipeline import FateFlowPipeline
    from fate_client.pipeline.components.fate import CoordinatedLR, Evaluation, PSI, Reader

    p = FateFlowPipeline().set_parties(guest=GUEST, host=HOST, arbiter=ARBITER)
    # The SDK follows the job through the site's own party; it assumes guest unless told.
    p.set_site_role("guest" if a.party == GUEST else "host")
    p.set_site_party_id(a.party)
    p.conf.set("scheduler_party_id", a.scheduler)
    reader_0 = Reader("reader_0", runtime_parties=dict(guest=GUEST, host=HOST))
    reader_0.guest.task_parameters(namespace=NAMESPACE, name="breast_hetero_guest")
    reader_0.hosts[0].task_parameters(namespace=NAMESPACE, name="breast_hetero_host")
    psi_0 = PSI("psi_0", input_data=reader_0.outputs["output_data"])
    lr_0 = CoordinatedLR(
        "lr_0",
        epochs=a.epochs,
        batch_size=None,
        optimizer={"method": "SGD", "optimizer_params": {"lr": 0.1}, "penalty": "l2", "alpha": 0.001},
        init_param={"fit_intercept": True, "method": "zeros"},
        train_data=psi_0.outputs["output_data"],
    )
    evaluation_0 = Evaluation(
        "evaluation_0",
        runtime_parties=dict(guest=GUEST),
        default_eval_setting="binary",
        input_datas=[lr_0.outputs["train_output_data"]],
    )
    p.add_tasks([reader_0, psi_0, lr_0, evaluation_0])
    p.compile()
    return p


def fit(a):
    p = pipeline(a)
    p.fit()
    return {"job_id": p.model_info.job_id}


def submit(a):
    from fate_client.pipeline.utils.fateflow.fate_flow_job_invoker import FATEFlowJobInvoker

    p = pipeline(a)
    job_id, _, _ = FATEFlowJobInvoker().submit_job(p._dag.dag_spec.dict(exclude_defaults=True))
    return {"job_id": job_id}


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("upload")
    u.add_argument("--csv", required=True)
    u.add_argument("--name", required=True)
    u.add_argument("--label", action="store_true")
    u.add_argument("--partitions", type=int, default=4)
    for name in ("fit", "submit"):
        s = sub.add_parser(name)
        s.add_argument("--scheduler", required=True)
        s.add_argument("--party", required=True)
        s.add_argument("--epochs", type=int, default=2)
        s.add_argument("--out", required=True)
    for s in sub.choices.values():
        s.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    connect(a.port)
    if a.cmd == "upload":
        upload(a)
        return 0
    result = fit(a) if a.cmd == "fit" else submit(a)
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
