"""Tests of ferroflow's Spark driver program against pyfate's Spark and standalone engines, run
with the pyfate venv's Python (pyspark in it, Java on PATH):

    <venv>/bin/python -m unittest discover -s python/tests

pyfate's hetero algorithms pair the parties' rows by their place in a DataFrame block (block id,
offset). After psi every party rebuilds its frame from a shuffled table, and the place of a row
is the order its partition hands it over: the standalone engine hands rows over in key order,
Spark's shuffle in arrival order. The driver keeps Spark's tables in key order; these tests
build the same frame on both engines and compare where every sample lands.
"""

import os
import random
import runpy
import sys
import tempfile
import unittest
import warnings
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
DRIVER = HERE.parents[1] / "crates" / "cli" / "src" / "wrapper" / "spark_driver.py"

ROWS = 300
PARTITIONS = 3
BLOCK_ROWS = 16


def frame_rows(session):
    """Where each sample lands in a frame rebuilt from a shuffle, {(block, offset): sample id}.

    The frame is read from rows in a scrambled order, then narrowed to two thirds of its samples
    with `loc`, which is what psi's result goes through: a join, then blocks built partition by
    partition (`transform_flatten_data_to_df`).
    """
    import pandas as pd

    from fate.arch.dataframe import PandasReader

    rng = random.Random(7)
    ids = [f"s{i}" for i in range(ROWS)]
    rng.shuffle(ids)
    data = pd.DataFrame(
        {"sid": ids, "id": ids, "y": [i % 2 for i in range(ROWS)], "x0": [float(i) for i in range(ROWS)]}
    )
    # The reader needs only the engine and the party's role from pyfate's context.
    ctx = SimpleNamespace(computing=session, local=SimpleNamespace(name="local", party=("local", "0")))
    reader = PandasReader(
        sample_id_name="sid",
        match_id_name="id",
        label_name="y",
        dtype="float32",
        partition=PARTITIONS,
        block_row_size=BLOCK_ROWS,
    )
    frame = reader.to_frame(ctx, data)
    kept = session.parallelize(
        [(sid, True) for sid in ids if int(sid[1:]) % 3], include_key=True, partition=PARTITIONS
    )
    rows = frame.loc(kept).flatten(key_type="block_id").collect()
    return {place: sample_id for place, (sample_id, _) in rows}


class SparkTablesInKeyOrder(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from pyspark import SparkConf, SparkContext

        os.environ["PYSPARK_PYTHON"] = sys.executable
        # pyspark leaves its py4j sockets to the garbage collector.
        warnings.simplefilter("ignore", ResourceWarning)
        cls.sc = SparkContext.getOrCreate(
            SparkConf()
            .setMaster("local[2]")
            .setAppName("ferroflow-driver-test")
            .set("spark.ui.enabled", "false")
            .set("spark.ui.showConsoleProgress", "false")
        )
        cls.sc.setLogLevel("ERROR")
        cls.tmp = tempfile.TemporaryDirectory()
        from fate.arch.computing.backends.standalone import CSession
        from fate.arch.computing.backends.standalone._standalone import _TableMetaManager

        # pyfate caches its meta environments per process by partition alone, whatever the data
        # directory.
        _TableMetaManager._env.clear()
        standalone = CSession("ferroflow-driver-test", data_dir=cls.tmp.name, options={"task_cores": 1})
        cls.standalone = frame_rows(standalone)
        cls.driver = runpy.run_path(str(DRIVER))

    @classmethod
    def tearDownClass(cls):
        cls.sc.stop()
        cls.tmp.cleanup()

    def spark_rows(self):
        from fate.arch.computing.backends.spark import CSession

        return frame_rows(CSession("ferroflow-driver-test"))

    def test_a_spark_frame_pairs_rows_as_a_standalone_one(self):
        import fate.arch.computing.backends.spark._csession as spark_session
        import fate.arch.computing.backends.spark._table as spark_table

        originals = (spark_table.from_rdd, spark_session.from_rdd)
        try:
            # pyfate's own Spark tables: the same samples kept, in other places.
            as_is = self.spark_rows()
            self.assertEqual(sorted(as_is.values()), sorted(self.standalone.values()))
            self.assertNotEqual(as_is, self.standalone)
            # The driver's: every sample where the standalone engine puts it.
            self.driver["keep_tables_in_key_order"]()
            self.assertEqual(self.spark_rows(), self.standalone)
            self.assertEqual(len(self.standalone), 200)
        finally:
            spark_table.from_rdd, spark_session.from_rdd = originals

    def test_the_driver_names_what_it_cannot_patch(self):
        import fate.arch.computing.backends.spark._table as spark_table

        original = spark_table.from_rdd
        del spark_table.from_rdd
        try:
            with self.assertRaises(SystemExit) as raised:
                self.driver["keep_tables_in_key_order"]()
            self.assertIn("_table.from_rdd", str(raised.exception))
        finally:
            spark_table.from_rdd = original


if __name__ == "__main__":
    unittest.main()
