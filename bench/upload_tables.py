"""Uploads breast_hetero (guest and host halves) to a site as FATE dataframes, with FATE's own
pipeline SDK (fate_client 2.2), the way a FATE user does before running reader → psi → lr.

    python bench/upload_tables.py --port P --guest-csv G --host-csv H
"""

import argparse
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--guest-csv", required=True)
    p.add_argument("--host-csv", required=True)
    a = p.parse_args()

    from fate_client.pipeline.conf.env_config import FlowConfig

    FlowConfig.IP = a.ip
    FlowConfig.PORT = a.port
    from fate_client.pipeline import FateFlowPipeline

    for csv, name, meta in [
        (a.guest_csv, "breast_hetero_guest", {"delimiter": ",", "label_name": "y", "match_id_name": "id"}),
        (a.host_csv, "breast_hetero_host", {"delimiter": ",", "match_id_name": "id"}),
    ]:
        FateFlowPipeline().transform_local_file_to_dataframe(
            file=csv, head=True, namespace="experiment", name=name, meta=meta,
            extend_sid=True, partitions=4,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
