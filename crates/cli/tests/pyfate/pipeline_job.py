"""FATE's own pipeline SDK (fate_client 2.2) against a site: what a FATE user runs every day.

    python pipeline_job.py --port P --guest-csv G --host-csv H --out result.json [--epochs N] \
        [--batch-size N|full]
    python pipeline_job.py --port P --guest-csv G --host-csv H --upload-only
    python pipeline_job.py --port P --guest-csv G --host-csv H --no-upload --train-only \
        --provider fate:2.2.0@docker --out result.json

Uploads the two tables as the SDK does (multipart `upload/file`, then polling the local job
with role `local`, party `0`), fits reader -> psi -> coordinated_lr -> evaluation for guest
9999, host 10000, arbiter 9999, deploys psi and lr, predicts with the trained model, and writes
{train_job_id, predict_job_id, model_id, model_version, auc, metrics} to --out. Any failure
raises (the SDK raises when a job does not succeed). No random seed is involved: the LR starts
from zeros and its batches are not shuffled.
"""

import argparse
import json
import sys


def find_auc(v):
    """The first `{"metric": "auc", "val": x}` in pyfate's evaluation metrics."""
    if isinstance(v, dict):
        if v.get("metric") == "auc" and isinstance(v.get("val"), (int, float)):
            return v["val"]
        v = list(v.values())
    if isinstance(v, list):
        for item in v:
            found = find_auc(item)
            if found is not None:
                return found
    return None


def upload(uploader, a, ns):
    """FATE's two example tables, as the SDK uploads them."""
    uploader.transform_local_file_to_dataframe(
        file=a.guest_csv,
        head=True,
        namespace=ns,
        name="breast_hetero_guest",
        meta={"delimiter": ",", "label_name": "y", "match_id_name": "id"},
        extend_sid=True,
        partitions=4,
    )
    uploader.transform_local_file_to_dataframe(
        file=a.host_csv,
        head=True,
        namespace=ns,
        name="breast_hetero_host",
        meta={"delimiter": ",", "match_id_name": "id"},
        extend_sid=True,
        partitions=4,
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--guest-csv", required=True)
    p.add_argument("--host-csv", required=True)
    p.add_argument("--out")
    p.add_argument("--upload-only", action="store_true", help="upload the two tables, then stop")
    p.add_argument("--no-upload", action="store_true", help="the tables are there already")
    p.add_argument(
        "--train-only", "--fit-only", dest="train_only", action="store_true",
        help="no deploy, no predict job",
    )
    p.add_argument("--provider", help="the provider of every task (dag.conf.task.provider)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--batch-size", default="300",
        help="rows per batch of coordinated_lr; `full`: the whole table in one batch",
    )
    p.add_argument("--namespace", default="experiment")
    p.add_argument("--app-id", help="sign every call with this app (client authentication)")
    p.add_argument("--app-token")
    a = p.parse_args()

    # The SDK reads its server from its installed settings.yaml; point it at this site.
    from fate_client.pipeline.conf.env_config import FlowConfig

    FlowConfig.IP = a.ip
    FlowConfig.PORT = a.port
    if a.app_id:
        # The SDK cannot sign: its job invoker makes `FlowClient(ip, port, version)` without
        # credentials and its settings have no key for them. Give it a client that signs.
        import functools

        from fate_client.flow_sdk import FlowClient
        from fate_client.pipeline.utils.fateflow import fate_flow_job_invoker

        fate_flow_job_invoker.FlowClient = functools.partial(FlowClient, app_id=a.app_id,
                                                             app_token=a.app_token)

    from fate_client.pipeline import FateFlowPipeline
    from fate_client.pipeline.components.fate import CoordinatedLR, Evaluation, PSI, Reader

    guest, host, arbiter = "9999", "10000", "9999"
    ns = a.namespace

    uploader = FateFlowPipeline()
    if not a.no_upload:
        upload(uploader, a, ns)
    if a.upload_only:
        return 0

    pipeline = FateFlowPipeline().set_parties(guest=guest, host=host, arbiter=arbiter)
    if a.provider:
        pipeline.conf.set("task", {"provider": a.provider})
    reader_0 = Reader("reader_0", runtime_parties=dict(guest=guest, host=host))
    reader_0.guest.task_parameters(namespace=ns, name="breast_hetero_guest")
    reader_0.hosts[0].task_parameters(namespace=ns, name="breast_hetero_host")
    psi_0 = PSI("psi_0", input_data=reader_0.outputs["output_data"])
    lr_0 = CoordinatedLR(
        "lr_0",
        epochs=a.epochs,
        batch_size=None if a.batch_size == "full" else int(a.batch_size),
        optimizer={"method": "SGD", "optimizer_params": {"lr": 0.1}, "penalty": "l2", "alpha": 0.001},
        init_param={"fit_intercept": True, "method": "zeros"},
        learning_rate_scheduler={"method": "linear", "scheduler_params": {"start_factor": 0.7, "total_iters": 100}},
        train_data=psi_0.outputs["output_data"],
    )
    evaluation_0 = Evaluation(
        "evaluation_0",
        runtime_parties=dict(guest=guest),
        default_eval_setting="binary",
        input_datas=[lr_0.outputs["train_output_data"]],
    )
    pipeline.add_tasks([reader_0, psi_0, lr_0, evaluation_0])
    pipeline.compile()
    pipeline.fit()

    metrics = pipeline.get_task_info("evaluation_0").get_output_metric()
    auc = find_auc(metrics)
    model_info = pipeline.model_info
    train_job_id = model_info.job_id
    if a.train_only:
        result = {"train_job_id": train_job_id, "auc": auc, "metrics": metrics}
        with open(a.out, "w") as f:
            json.dump(result, f)
        print(json.dumps({"train_job_id": train_job_id, "auc": auc}))
        return 0

    pipeline.deploy([psi_0, lr_0])
    predict_pipeline = FateFlowPipeline()
    deployed = pipeline.get_deployed_pipeline()
    reader_1 = Reader("reader_1", runtime_parties=dict(guest=guest, host=host))
    reader_1.guest.task_parameters(namespace=ns, name="breast_hetero_guest")
    reader_1.hosts[0].task_parameters(namespace=ns, name="breast_hetero_host")
    deployed.psi_0.input_data = reader_1.outputs["output_data"]
    predict_pipeline.add_tasks([reader_1, deployed])
    predict_pipeline.compile()
    predict_pipeline.predict()
    predict_job_id = predict_pipeline.model_info.job_id

    result = {
        "train_job_id": train_job_id,
        "predict_job_id": predict_job_id,
        "model_id": model_info.model_id,
        "model_version": str(model_info.model_version),
        "auc": auc,
        "metrics": metrics,
    }
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
