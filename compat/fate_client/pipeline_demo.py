"""FATE's pipeline SDK (fate_client 2.2) with ferroflow's demo components.

The SDK builds tasks from component classes, each reading a component spec YAML (name,
provider, roles, parameters, input and output artifacts). FATE ships those for its own
components only; `components/*.yaml` are the specs of the demo provider's components, and the
classes below are what a user writes to use them (see docs/compat.md). The DAG's task
provider is named through the pipeline's job conf: `conf.task.provider = "demo:*@local"`.
"""

import os

from fate_client.pipeline.components.component_base import Component
from fate_client.pipeline.conf.types import PlaceHolder

HERE = os.path.dirname(os.path.abspath(__file__))


def spec(name):
    # An absolute path: the SDK resolves the spec path against its own package directory,
    # and joining an absolute path keeps it as it is.
    return os.path.join(HERE, "components", f"{name}.yaml")


class DemoReader(Component):
    yaml_define_path = spec("demo_reader")

    def __init__(self, _name, runtime_parties=None, path=PlaceHolder(), namespace=PlaceHolder(),
                 name=PlaceHolder()):
        inputs = locals()
        self._process_init_inputs(inputs)
        super(DemoReader, self).__init__()
        self._name = _name
        self.runtime_parties = runtime_parties
        self.path = path
        self.namespace = namespace
        self.name = name


class DemoTransform(Component):
    yaml_define_path = spec("demo_transform")

    def __init__(self, _name, runtime_parties=None, input_data=PlaceHolder(), scale=PlaceHolder(),
                 drop_columns=PlaceHolder(), label=PlaceHolder()):
        inputs = locals()
        self._process_init_inputs(inputs)
        super(DemoTransform, self).__init__()
        self._name = _name
        self.runtime_parties = runtime_parties
        self.input_data = input_data
        self.scale = scale
        self.drop_columns = drop_columns
        self.label = label


class DemoTrain(Component):
    yaml_define_path = spec("demo_train")

    def __init__(self, _name, runtime_parties=None, train_data=PlaceHolder(), max_iter=PlaceHolder(),
                 learning_rate=PlaceHolder(), label=PlaceHolder()):
        inputs = locals()
        self._process_init_inputs(inputs)
        super(DemoTrain, self).__init__()
        self._name = _name
        self.runtime_parties = runtime_parties
        self.train_data = train_data
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.label = label


def sign_pipeline_calls(app_id, app_token):
    """The pipeline SDK cannot sign: its `FATEFlowJobInvoker` makes every
    `FlowClient(ip, port, version)` without credentials, and its config file (`pipeline init`)
    has no key for them. Its calls are signed by giving that module a FlowClient that carries
    the app's credentials (docs/security.md)."""
    import functools

    from fate_client.flow_sdk import FlowClient
    from fate_client.pipeline.utils.fateflow import fate_flow_job_invoker

    fate_flow_job_invoker.FlowClient = functools.partial(FlowClient, app_id=app_id, app_token=app_token)


def fit_and_check(ip, port, guest_table, host_table, guest="9999", host="10000", arbiter="9999",
                  app_id=None, app_token=None):
    """Builds demo_reader -> demo_transform -> demo_train for guest and host, compiles it, fits
    it (the SDK submits the DAG and waits for the job), and reads the outputs back through the
    SDK. Returns {job_id, dag, losses}."""
    from fate_client.pipeline.conf.env_config import FlowConfig

    FlowConfig.IP = ip
    FlowConfig.PORT = port
    if app_id:
        sign_pipeline_calls(app_id, app_token)
    from fate_client.pipeline import FateFlowPipeline

    parties = dict(guest=guest, host=host)
    pipeline = FateFlowPipeline().set_parties(guest=guest, host=host, arbiter=arbiter)
    pipeline.conf.set("task", dict(provider="demo:*@local"))
    reader_0 = DemoReader("reader_0", runtime_parties=parties)
    reader_0.guest.task_parameters(**guest_table)
    reader_0.hosts[0].task_parameters(**host_table)
    transform_0 = DemoTransform("transform_0", runtime_parties=parties, scale=2.0,
                                input_data=reader_0.outputs["output_data"])
    train_0 = DemoTrain("train_0", runtime_parties=parties, max_iter=4,
                        train_data=transform_0.outputs["output_data"])
    pipeline.add_tasks([reader_0, transform_0, train_0])
    pipeline.compile()
    dag = pipeline.get_dag()
    pipeline.fit()
    job_id = pipeline.model_info.job_id
    metrics = pipeline.get_task_info("train_0").get_output_metric()
    losses = [d for m in metrics or [] if m.get("name") == "loss" for d in m.get("data", [])]
    if len(losses) != 4:
        raise AssertionError(f"pipeline: expected 4 losses from train_0, got {metrics}")
    model = pipeline.get_task_info("train_0").get_output_model()
    if "coefficients" not in str(model):
        raise AssertionError(f"pipeline: train_0's model through the SDK: {model}")
    data = pipeline.get_task_info("train_0").get_output_data()
    if "predict_score" not in str(data)[:100000]:
        raise AssertionError(f"pipeline: train_0's output data through the SDK: {str(data)[:500]}")
    return {"job_id": job_id, "dag": dag, "losses": losses}
