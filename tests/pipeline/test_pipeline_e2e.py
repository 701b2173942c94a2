"""End to end: the whole pipeline on a small synthetic sample, through the CLI."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import cli, privacy_audit, run_summary


def test_model_is_blessed_pushed_and_level_with_the_strongest_baseline(finished_run):
    summary = run_summary.read(finished_run.metadata_path)
    assert summary.pushed_model_dir is not None
    assert summary.pushed_model_dir.startswith(
        os.path.join(finished_run.serving_root, "retrieval") + os.sep)
    metrics = summary.evaluation["metrics"]
    model = metrics["model"]["ndcg@10"]
    assert {"popularity", "itemknn", "ease", "als"} <= set(metrics)
    for name in ("popularity", "itemknn", "tags_linear"):
        assert model > metrics[name]["ndcg@10"], name
    # On this 300-user sample the model comes within 5% of EASE and ALS (the
    # full synthetic default and MovieLens are in the README's quality table).
    strongest = max(metrics[name]["ndcg@10"] for name in ("ease", "als"))
    assert model >= 0.9 * strongest


def test_pushed_model_answers_known_and_unknown_users(finished_run):
    version_dirs = glob.glob(os.path.join(finished_run.serving_root, "retrieval", "*"))
    assert len(version_dirs) == 1 and os.path.basename(version_dirs[0]).isdigit()
    model = tf.saved_model.load(version_dirs[0])
    serve = model.signatures["serving_default"]
    inputs = {"user_id": tf.constant(["u0001", "no-such-user"]),
              "history_item_ids": tf.constant([["i00001", "i00002"], ["", ""]])}
    result = serve(**{name: inputs[name] for name in serve.structured_input_signature[1]})
    item_ids = result["item_ids"].numpy()
    scores = result["scores"].numpy()
    assert item_ids.shape == (2, 100) and scores.shape == (2, 100)
    assert all(i.startswith(b"i") for i in item_ids.ravel())
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    assert len(set(item_ids[0])) == 100


@pytest.mark.parametrize("which", ["finished_run", "hybrid_run"])
def test_no_raw_user_id_in_anything_the_run_wrote(request, which):
    """Examples, statistics, vocabularies, models, warmups, reports and ML Metadata."""
    config = request.getfixturevalue(which)
    report = privacy_audit.run_audit(config)
    assert report.clean, report.summary()
    assert report.searchable_ids > 100 and report.structured_only_ids == 0
    assert {"examples", "statistics", "vocabularies", "recommendations"} <= set(report.structured_values)
    assert any(path.endswith(".db") for path in glob.glob(os.path.join(config.output_dir, "**"), recursive=True))


def test_no_wheel_of_our_code_is_built(finished_run):
    # Transform and the Trainer import the installed package by module path.
    assert os.path.isdir(finished_run.pipeline_root)
    assert not os.path.exists(os.path.join(finished_run.pipeline_root, "_wheels"))


def test_rerun_with_unchanged_inputs_is_fully_cached(finished_run, capsys):
    config_path = os.path.join(os.path.dirname(finished_run.output_dir), "config.yaml")
    assert cli.main(["run", "--config", config_path]) == 0
    output = capsys.readouterr().out
    ran = [line for line in output.splitlines() if " ran " in line]
    assert ran == [], f"components ran again instead of coming from the cache: {ran}"
    assert "reused from cache" in output


def test_crippled_model_is_not_blessed_nor_pushed(finished_run, capsys):
    """An untrained model (zero epochs) must lose to popularity and stay unpushed."""
    config_path = os.path.join(os.path.dirname(finished_run.output_dir), "config.yaml")
    pushed_before = sorted(os.listdir(os.path.join(finished_run.serving_root, "retrieval")))
    assert cli.main(["run", "--config", config_path, "--set", "retrieval.epochs=0"]) == 0
    output = capsys.readouterr().out
    assert "NOT blessed" in output and "No model was pushed" in output
    summary = run_summary.read(finished_run.metadata_path)
    assert summary.pushed_model_dir is None
    assert not summary.evaluation["blessing"]["blessed"]
    assert sorted(os.listdir(os.path.join(finished_run.serving_root, "retrieval"))) == pushed_before


def test_hybrid_run_tunes_ranks_cold_items_and_pushes_both_models(hybrid_run):
    summary = run_summary.read(hybrid_run.metadata_path)
    tuner_results = glob.glob(os.path.join(hybrid_run.pipeline_root, "Tuner",
                                           "best_hyperparameters", "*", "*"))
    assert tuner_results, "the Tuner wrote no best hyperparameters"
    cold = summary.evaluation["metrics"]["model"]["cold"]
    assert cold is not None and cold["cold_users"] > 0  # ranked from their text and tags
    sample = summary.evaluation["user_sample"]
    assert sample["users"] == summary.evaluation["num_users"] == 50 and sample["of"] > 50
    with open(summary.recommendations_path) as recommendations:
        assert len(recommendations.readlines()) == 50  # the sampled users
    assert "root_mean_squared_error" in summary.ranking_metrics  # the TFMA Evaluator ran
    for model_name in ("retrieval", "ranking"):
        pushed = glob.glob(os.path.join(hybrid_run.serving_root, model_name, "*"))
        assert len(pushed) == 1, (model_name, pushed)
    retrieval = tf.saved_model.load(
        glob.glob(os.path.join(hybrid_run.serving_root, "retrieval", "*"))[0])
    assert "explain" in retrieval.signatures
