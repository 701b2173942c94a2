"""`unirec scale-benchmark`: its memory sampler, its table, and a tiny run end to end."""
import csv
import subprocess
import sys
import time

from pipeline import cli
from pipeline.scale_benchmark import memory, report

DEFAULT_COMPONENTS = ["UnirecExampleGen", "StatisticsGen", "UnirecSchemaGen", "ExampleValidator",
                      "AnomaliesGate", "Transform", "Trainer", "RetrievalEvaluator",
                      "ServingPusher"]


def test_the_sampled_memory_includes_child_processes():
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; block = bytearray(300_000_000); "
                              "print(flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        child.stdout.readline()  # the block is allocated
        sampler = memory.PeakSampler(interval=0.05).start()
        time.sleep(0.3)
        sampler.stop()
        own = memory.tree_rss_bytes(child.pid)
        assert own > 290e6
        assert sampler.peak >= own + memory._rss_bytes(sampler.root) * 0.5
    finally:
        child.kill()
        child.wait()


def _result(shape, seconds, peaks, ndcg=None):
    return {"shape": shape, "scale": 1.0, "num_users": 10, "num_items": 20,
            "num_interactions": 1000, "status": "finished" if ndcg else "failed (exit 137)",
            "components": [{"component": name, "seconds": s, "peak_rss_bytes": p}
                           for name, s, p in zip(("UnirecExampleGen", "Trainer"), seconds, peaks)],
            "wall_seconds": sum(seconds), "peak_rss_bytes": max(peaks),
            **({"ndcg@10": ndcg} if ndcg else {})}


def test_the_table_gives_each_runs_cost_and_the_growth_per_component():
    results = [_result("ml-1m", [2.0, 10.0], [1e9, 2e9], {"model": 0.25, "popularity": 0.1}),
               _result("ml-10m", [30.0], [5e9])]
    table = report.markdown(results)
    assert "| UnirecExampleGen | 2.0 | 1.00 | 30.0 | 5.00 | 15.0 |" in table
    assert "| Trainer | 10.0 | 2.00 | – | – | – |" in table
    assert "| **total** | 12.0 | 2.00 | 30.0 | 5.00 | – |" in table  # the second did not finish
    assert "ml-10m: 10 users, 20 items, 1,000 interactions; failed (exit 137)" in table
    assert "| ml-1m | 0.2500 | 0.1000 |" in table
    rows = report.csv_rows(results)
    assert [(r["run"], r["component"], r["interactions_per_s"]) for r in rows] == [
        ("ml-1m", "UnirecExampleGen", 500), ("ml-1m", "Trainer", 100), ("ml-1m", "total", 83),
        ("ml-10m", "UnirecExampleGen", 33), ("ml-10m", "total", None)]
    assert "failed (exit 137)\n" in table  # no rate over a run that did not finish


def test_scale_benchmark_runs_a_tiny_shape_end_to_end(tmp_path, capsys):
    assert cli.main(["scale-benchmark", "--shapes", "ml-1m", "--scale", "0.001",
                     "--set", "retrieval.epochs=1", "--output-dir", str(tmp_path)]) == 0
    with open(tmp_path / "scale.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["component"] for r in rows] == DEFAULT_COMPONENTS + ["total"]
    assert {r["run"] for r in rows} == {"ml-1m-x0.001"}
    assert {r["num_interactions"] for r in rows} == {"1000"}
    assert all(float(r["peak_rss_gb"]) > 0.1 for r in rows)
    assert float(rows[-1]["seconds"]) >= sum(float(r["seconds"]) for r in rows[:-1]) - 1
    table = (tmp_path / "scale.md").read_text()
    assert "| NDCG@10 | model | popularity |" in table
    assert table in capsys.readouterr().out
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unknown_shape_is_refused_before_anything_runs(tmp_path, capsys):
    assert cli.main(["scale-benchmark", "--shapes", "ml-1m,ml-5m",
                     "--output-dir", str(tmp_path)]) == 2
    assert "shape 'ml-5m' is unknown" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
