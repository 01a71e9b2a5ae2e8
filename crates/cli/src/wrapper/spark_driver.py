"""ferroflow: pyfate's component CLI as a Spark driver program.

spark-submit runs this file with pyfate's `component` arguments. It starts the Spark context
before pyfate does, writes the application's identity where the task wrapper looks
(FERROFLOW_SPARK_APP), keeps pyfate's Spark tables in key order, then runs the CLI.
"""

import json
import os


def announce():
    """Starts the Spark context and publishes its application id, UI address and master."""
    from pyspark import SparkContext

    sc = SparkContext.getOrCreate()
    info = {"application_id": sc.applicationId, "ui": sc.uiWebUrl, "master": sc.master}
    path = os.environ.get("FERROFLOW_SPARK_APP")
    if path:
        with open(path + ".tmp", "w") as f:
            json.dump(info, f)
        os.replace(path + ".tmp", path)
    print("ferroflow: spark application " + json.dumps(info), flush=True)


def keep_tables_in_key_order():
    """Makes every Spark table of pyfate sorted by key within its partitions.

    pyfate fills a DataFrame's blocks in the order a partition hands its rows over, and its
    hetero algorithms pair the parties' rows by their place in a block. A standalone engine's
    partitions are sorted by key; a Spark shuffle's come in arrival order, which differs between
    parties and between runs. Sorted like a standalone table, a Spark table gives the same blocks
    as the standalone one: Spark and standalone parties, and two Spark parties, agree row by row.
    Every Spark table is made by `from_rdd` (the session's reads and parallelize, every operation's
    result), so that is the one place to change.
    """
    import fate.arch.computing.backends.spark._csession as spark_session
    import fate.arch.computing.backends.spark._table as spark_table
    from fate.arch.computing.partitioners import get_partitioner_by_type

    for module in (spark_table, spark_session):
        if not hasattr(module, "from_rdd"):
            raise SystemExit(
                "ferroflow: this pyfate has no %s.from_rdd: its Spark tables cannot be kept in "
                "key order" % module.__name__
            )

    def from_rdd_in_key_order(rdd, key_serdes_type=0, value_serdes_type=0, partitioner_type=0):
        partitioner = get_partitioner_by_type(partitioner_type)
        partitions = rdd.getNumPartitions()
        rdd = rdd.repartitionAndSortWithinPartitions(
            partitions, lambda key: partitioner(key, partitions)
        )
        return spark_table.Table(
            rdd=spark_table.materialize(rdd),
            key_serdes_type=key_serdes_type,
            value_serdes_type=value_serdes_type,
            partitioner_type=partitioner_type,
        )

    spark_table.from_rdd = from_rdd_in_key_order
    spark_session.from_rdd = from_rdd_in_key_order


def main():
    announce()
    keep_tables_in_key_order()

    import click
    from fate.components.entrypoint.cli.component.__main__ import component

    cli = click.Group()
    cli.add_command(component)
    cli(prog_name="fate.components")


if __name__ == "__main__":
    main()
