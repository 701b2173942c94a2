import json

from pipeline.benchmark import protocols, report


def _metrics(scale):
    values = {f"{m}@{k}": scale * k / 100 for m in ("recall", "ndcg", "precision", "map", "hitrate")
              for k in (10, 20)}
    values["slices"] = {"user_activity": {"1-5 train items": {"ndcg@10": scale}},
                        "item_popularity": {"tail": {"ndcg@10": scale / 2}}}
    return values


RESULTS = {
    "dataset": "synthetic", "cutoffs": [10, 20],
    "protocols": {
        "P1": {
            "cf": {"metrics": {"model": _metrics(0.5), "popularity": _metrics(0.2)}, "seconds": 61.0,
                   "training_history": {"selection_loss": [3.0, 2.5, 2.0], "loss": [2.9, 2.1],
                                        "validation_epochs": [1, 2, 3],
                                        "validation_ndcg@10": [0.1, 0.2, 0.19]}},
            "content": {"metrics": {"model": {**_metrics(0.6), "cold": {"cold_recall@20": 0.7}},
                                    "popularity": _metrics(0.2)}, "seconds": 75.0},
        },
    },
}


def test_table_has_each_family_and_each_baseline_once(tmp_path):
    table = report.markdown_table(RESULTS)
    lines = [line for line in table.splitlines() if line.startswith("| P1")]
    assert [line.split("|")[2].strip() for line in lines] == ["cf", "popularity", "content"]
    assert "| 0.7000 |" in lines[2] and "| 75 |" in lines[2]


def test_table_notes_a_user_sample_and_a_skipped_baseline_once_per_protocol():
    runs = {family: {**run, "user_sample": {"users": 20000, "of": 52000, "seed": 0},
                     "skipped_baselines": {"ease": "skipped: 30000 items > limit"}}
            for family, run in RESULTS["protocols"]["P1"].items()}
    table = report.markdown_table({**RESULTS, "protocols": {"P1": runs}})
    assert table.splitlines()[-2:] == [
        "P1: metrics on a seeded sample of 20000 of the 52000 users (seed 0)",
        "P1: ease skipped: 30000 items > limit"]
    assert "seeded sample" not in report.markdown_table(RESULTS)


def test_write_produces_json_markdown_and_plots(tmp_path):
    paths = report.write(RESULTS, str(tmp_path))
    with open(paths["results.json"]) as f:
        assert json.load(f)["protocols"]["P1"]["cf"]["seconds"] == 61.0
    for name in ("metric_curves.png", "slices.png", "training_loss.png"):
        with open(paths[name], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_protocol_splits_are_seeded_and_distinct():
    splits = [protocols.split_settings(p) for p in protocols.PROTOCOLS.values()]
    assert all(s["seed"] == protocols.SEED for s in splits)
    assert protocols.get("p4").split["holdout_item_fraction"] == 0.1
    assert len({json.dumps(s, sort_keys=True) for s in splits}) == 4
