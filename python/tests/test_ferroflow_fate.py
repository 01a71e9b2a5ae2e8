"""Tests of the standalone-storage helper, run with the pyfate venv's Python:

    <venv>/bin/python -m unittest discover -s python/tests

They check the tables against pyfate's own standalone engine, so that what the helper writes is
what pyfate reads, and the other way round.
"""

import json
import pickle
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ferroflow_fate as ff  # noqa: E402

CSV = "id,y,x0,x1\n133,1,0.25,-1.0\n273,0,-1.1,0.5\n175,1,0.2,0.1\n"


def pyfate_session(data_dir):
    from fate.arch.computing.backends.standalone._standalone import Session, _TableMetaManager

    # pyfate caches its meta environments per process by partition alone, whatever the data
    # directory: each test has its own directory.
    _TableMetaManager._env.clear()
    return Session("ferroflow-test", data_dir=str(data_dir), max_workers=1)


class Upload(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.file = self.dir / "in.csv"
        self.file.write_text(CSV)
        self.data = self.dir / "data"

    def tearDown(self):
        self.tmp.cleanup()

    def test_pyfate_reads_an_uploaded_table(self):
        r = ff.upload(str(self.data), "ns", "t", str(self.file), 4, {"delimiter": ",", "label_name": "y"}, True, False)
        self.assertEqual(r["count"], 3)
        self.assertEqual(r["data_meta"]["header"], "id,y,x0,x1")
        self.assertEqual(r["data_meta"]["sample_id_name"], "id")
        self.assertEqual(r["data_meta"]["label_name"], "y")
        self.assertEqual(r["part_of_data"][0], ["133", "1,0.25,-1.0"])
        table = pyfate_session(self.data).load(name="t", namespace="ns")
        self.assertEqual((table.num_partitions, table.key_serdes_type, table.value_serdes_type), (4, 0, 0))
        self.assertEqual(table.count(), 3)
        rows = {pickle.loads(k): pickle.loads(v) for k, v in table.collect()}
        self.assertEqual(rows, {"133": "1,0.25,-1.0", "273": "0,-1.1,0.5", "175": "1,0.2,0.1"})
        # every key sits in the partition pyfate's mmh3 partitioner puts it in
        from fate.arch.computing.partitioners import get_partitioner_by_type

        place = get_partitioner_by_type(0)
        for p in range(4):
            env = ff.open_env(self.data / "ns" / "t" / str(p))
            with env, env.begin() as txn:
                for k, _ in txn.cursor():
                    self.assertEqual(place(bytes(k), 4), p)

    def test_extend_sid_and_id_moved_first(self):
        r = ff.upload(str(self.data), "ns", "s", str(self.file), 2, {"match_id_name": "id"}, True, True)
        self.assertEqual(r["data_meta"]["header"], "extend_sid,id,y,x0,x1")
        self.assertEqual(r["data_meta"]["sample_id_name"], "extend_sid")
        k, v = r["part_of_data"][1]
        self.assertEqual(len(k), 33)
        self.assertTrue(k.endswith("1"))
        self.assertEqual(v, "273,0,-1.1,0.5")
        r = ff.upload(str(self.data), "ns", "m", str(self.file), 2, {"sample_id_name": "y"}, True, False)
        self.assertEqual(r["data_meta"]["header"], "y,id,x0,x1")
        self.assertEqual(r["part_of_data"][0], ["1", "133,0.25,-1.0"])

    def test_a_new_upload_replaces_the_table(self):
        ff.upload(str(self.data), "ns", "t", str(self.file), 4, {}, True, False)
        self.file.write_text("id,x\na,1\n")
        r = ff.upload(str(self.data), "ns", "t", str(self.file), 2, {}, True, False)
        self.assertEqual(r["count"], 1)
        self.assertEqual(ff.count(str(self.data), "ns", "t"), {"count": 1, "partitions": 2})

    def test_export_and_destroy(self):
        ff.upload(str(self.data), "ns", "t", str(self.file), 3, {}, True, False)
        out = self.dir / "out" / "0.csv"
        r = ff.export(str(self.data), "ns", "t", str(out), ",", "id,y,x0,x1")
        self.assertEqual(r["count"], 3)
        lines = out.read_text().splitlines()
        self.assertEqual(lines[0], "id,y,x0,x1")
        self.assertEqual(sorted(lines[1:]), sorted(CSV.splitlines()[1:]))
        self.assertTrue(ff.destroy(str(self.data), "ns", "t"))
        self.assertIsNone(ff.get_meta(str(self.data), "ns", "t"))
        self.assertFalse((self.data / "ns" / "t").exists())
        self.assertFalse(ff.destroy(str(self.data), "ns", "t"))
        with self.assertRaises(Exception):
            pyfate_session(self.data).load(name="t", namespace="ns")

    def test_export_reads_pyfate_dataframe_blocks(self):
        # a table pyfate wrote: integer keys (serdes 1), values lists of rows (serdes 0)
        s = pyfate_session(self.data)
        t = s.create_table(
            name="df",
            namespace="ns",
            partitions=2,
            need_cleanup=False,
            error_if_exist=True,
            key_serdes_type=1,
            value_serdes_type=0,
            partitioner_type=1,
        )
        from fate.arch.computing.partitioners import get_partitioner_by_type

        t.put_all(
            [(i.to_bytes(8, "big"), pickle.dumps([["a%d" % i, 0.5, 1], ["b%d" % i, 1.5, 0]])) for i in range(3)],
            partitioner=get_partitioner_by_type(1),
        )
        out = self.dir / "df.csv"
        self.assertEqual(ff.export(str(self.data), "ns", "df", str(out))["count"], 6)
        self.assertIn("a1,0.5,1", out.read_text().splitlines())

    def test_command_line(self):
        run = lambda *a: subprocess.run(  # noqa: E731
            [sys.executable, str(HERE.parent / "ferroflow_fate.py"), *a], capture_output=True, text=True
        )
        common = ["--data-dir", str(self.data), "--namespace", "ns", "--name", "t"]
        p = run("upload", *common, "--file", str(self.file), "--partitions", "2", "--meta", '{"delimiter": ","}', "--head")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["count"], 3)
        p = run("count", *common)
        self.assertEqual(json.loads(p.stdout), {"count": 3, "partitions": 2})
        p = run("count", "--data-dir", str(self.data), "--namespace", "ns", "--name", "nope")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no table ns.nope", p.stderr)


if __name__ == "__main__":
    unittest.main()


class Localfs(unittest.TestCase):
    """FATE's `file` storage, which pyfate's Spark backend reads (its coder needs pyspark)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.file = self.dir / "in.csv"
        self.file.write_text(CSV)

    def tearDown(self):
        self.tmp.cleanup()

    def test_pyfate_spark_coder_reads_an_uploaded_table(self):
        from fate.arch.computing.backends.spark._table import HDFSCoder

        r = ff.upload(self.dir, "ns", "t", self.file, 2, {"delimiter": ","}, True, False, localfs=True)
        self.assertEqual(r["count"], 3)
        pairs = {}
        for part in sorted((self.dir / "ns" / "t").glob("part-*")):
            for line in part.read_text().splitlines():
                k, v = HDFSCoder.decode(line)
                pairs[pickle.loads(k)] = pickle.loads(v)
        self.assertEqual(pairs, {"133": "1,0.25,-1.0", "273": "0,-1.1,0.5", "175": "1,0.2,0.1"})
        self.assertEqual(ff.count(self.dir, "ns", "t", localfs=True), {"count": 3, "partitions": 2})
        out = self.dir / "out.csv"
        self.assertEqual(ff.export(self.dir, "ns", "t", out, ",", "id,y,x0,x1", localfs=True)["count"], 3)
        self.assertEqual(sorted(out.read_text().splitlines()[1:]), sorted(CSV.splitlines()[1:]))

    def test_pyfate_spark_coder_output_is_read_back(self):
        from fate.arch.computing.backends.spark._table import HDFSCoder

        table = self.dir / "ns" / "out"
        table.mkdir(parents=True)
        block = [["a", 1, 0.5], ["b", 0, 1.5]]
        (table / "part-00000").write_text(HDFSCoder.encode(pickle.dumps(0), pickle.dumps(block)) + "\n")
        (table / "part-00000.crc").write_text("x")
        (table / "_SUCCESS").touch()
        out = self.dir / "df.csv"
        self.assertEqual(ff.export(self.dir, "ns", "out", out, ",", None, localfs=True)["count"], 2)
        self.assertEqual(out.read_text(), "a,1,0.5\nb,0,1.5\n")

    def test_command_line_destroy(self):
        ff.upload(self.dir, "ns", "t", self.file, 1, {}, True, False, localfs=True)
        args = ["--data-dir", str(self.dir), "--namespace", "ns", "--name", "t", "--format", "localfs"]
        self.assertEqual(ff.main(["destroy", *args]), 0)
        self.assertFalse((self.dir / "ns" / "t").exists())
