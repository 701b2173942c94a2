"""The pipeline's branches: components wired per model type, the ranking TFMA config."""
import json

import pytest
from tfx import v1 as tfx

from models import features
from models.ranking import signatures
from pipeline import code_fingerprint, ranking_branch, retrieval_branch
from pipeline.config import EvaluationSettings, RankingSettings, RetrievalSettings

ARTIFACTS = tfx.types.standard_artifacts


def _channels():
    """examples, transform_graph, schema"""
    return [tfx.dsl.Channel(type=t)
            for t in (ARTIFACTS.Examples, ARTIFACTS.TransformGraph, ARTIFACTS.Schema)]


def test_retrieval_branch_runs_the_installed_trainer_module_with_a_code_fingerprint():
    trainer, evaluator, pusher = retrieval_branch.create_retrieval_components(
        RetrievalSettings(family="cf", epochs=2, model_name="retrieval-cf"), EvaluationSettings(),
        *_channels(), "/serving")
    assert trainer.exec_properties["run_fn"] == "models.retrieval.trainer_module.run_fn"
    assert not trainer.exec_properties.get("module_file")
    custom_config = json.loads(trainer.exec_properties["custom_config"])
    assert custom_config["retrieval"]["epochs"] == 2
    assert "model_name" not in custom_config["retrieval"]
    assert custom_config["code_fingerprint"] == code_fingerprint.fingerprint(
        "models.retrieval.trainer_module.run_fn")
    assert evaluator.inputs["model"] is trainer.outputs["model"]
    assert "hyperparameters" not in trainer.inputs
    assert pusher.inputs["model_blessing"] is evaluator.outputs["blessing"]
    assert pusher.exec_properties["model_name"] == "retrieval-cf"
    content_trainer = retrieval_branch.create_retrieval_components(
        RetrievalSettings(family="content"), EvaluationSettings(), *_channels(), "/serving",
        text_encoder_model=tfx.dsl.Channel(type=ARTIFACTS.Model))[0]
    assert "base_model" in content_trainer.inputs and "base_model" not in trainer.inputs


def test_tuner_trials_put_the_tuner_before_the_trainer():
    tuner, trainer, _, _ = retrieval_branch.create_retrieval_components(
        RetrievalSettings(tuner_trials=3), EvaluationSettings(), *_channels(), "/serving")
    assert tuner.exec_properties["tuner_fn"] == "models.retrieval.tuner_module.tuner_fn"
    assert json.loads(tuner.exec_properties["custom_config"])["tuner_trials"] == 3
    assert trainer.inputs["hyperparameters"] is tuner.outputs["best_hyperparameters"]


def test_eval_config_gates_the_overall_slice_only():
    rating = ranking_branch.eval_config(RankingSettings(max_rmse=0.95, change_tolerance=0.02))
    spec = rating.model_specs[0]
    assert (spec.signature_name, spec.label_key, spec.prediction_key) == (
        "serving_default", features.RATING, "predictions")
    metrics = {m.class_name: m for m in rating.metrics_specs[0].metrics}
    assert {"ExampleCount", "RootMeanSquaredError", "MeanAbsoluteError"} <= set(metrics)
    gate = metrics["RootMeanSquaredError"]
    assert not gate.HasField("threshold")
    [per_slice] = gate.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [ranking_branch.tfma.SlicingSpec()]
    assert per_slice.threshold.value_threshold.upper_bound.value == 0.95
    assert per_slice.threshold.change_threshold.absolute.value == 0.02
    assert [list(s.feature_keys) for s in rating.slicing_specs] == [
        [], ["user_gender"], ["user_occupation"]]

    implicit = ranking_branch.eval_config(RankingSettings(task="implicit", min_auc=0.75))
    spec = implicit.model_specs[0]
    assert (spec.signature_name, list(spec.preprocessing_function_names), spec.label_key) == (
        "sampled_scores", ["sampled_labels"], signatures.SAMPLED_LABELS)
    gate = {m.class_name: m for m in implicit.metrics_specs[0].metrics}["AUC"]
    assert gate.per_slice_thresholds[0].threshold.value_threshold.lower_bound.value == 0.75


def test_ranking_branch_components_are_wired_per_task():
    trainer, resolver, evaluator, pusher = ranking_branch.create_ranking_components(
        RankingSettings(task="implicit", model_name="rank"), *_channels(), "/serving")
    assert [c.id for c in (trainer, resolver, evaluator, pusher)] == [
        "ImplicitRankingTrainer", "ImplicitRankingBaselineResolver",
        "ImplicitRankingEvaluator", "ImplicitRankingPusher"]
    assert trainer.exec_properties["run_fn"] == "models.ranking.trainer_module.run_fn"
    assert json.loads(trainer.exec_properties["custom_config"])["ranking"]["task"] == "implicit"
    # The baseline is the latest model this branch's own Evaluator blessed.
    producers = {key: (c.producer_component_id, c.output_key)
                 for key, c in resolver.raw_inputs.items()}
    assert producers == {"model": ("ImplicitRankingTrainer", "model"),
                         "model_blessing": ("ImplicitRankingEvaluator", "blessing")}
    assert evaluator.inputs["baseline_model"] is resolver.outputs["model"]
    assert pusher.exec_properties["model_name"] == "rank"
    with pytest.raises(ValueError, match="text encoder"):
        ranking_branch.create_ranking_components(
            RankingSettings(blocks=["user_id", "item_text"]), *_channels(), "/serving")
