"""The DCN ranking model on a small synthetic sample: blocks, training, export, TFMA config."""
import json
import tempfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from components.datasets import synthetic
from components.example_gen import examples as examples_lib
from models import catalogue as catalogue_lib
from models import features
from models.ranking import export, training
from models.ranking.hparams import Hyperparameters, RankingSettings
from models.transform import preprocessing
from pipeline import ranking_branch
from raw_feature_spec import raw_feature_spec

SMALL = dict(epochs=8, batch_size=256, embedding_dim=16, deep_layers=[32], learning_rate=3e-3)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Examples splits on disk and the Transform output of their train split."""
    root = tmp_path_factory.mktemp("ranking")
    dataset = synthetic.generate(num_users=120, num_items=150, num_interactions=4000, seed=7)
    built = examples_lib.build_examples(dataset, examples_lib.SplitConfig(method="random"),
                                        history_length=5)
    for split, rows in built.splits.items():
        examples_lib.write_tfrecord_gz(rows, str(root / f"Split-{split}" / "data.gz"))
    train_rows = built.splits[features.TRAIN_SPLIT]
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(raw_feature_spec(train_rows[0])))
    instances = [{k: v if isinstance(v, list) else [v] for k, v in row.items()}
                 for row in train_rows]
    with tempfile.TemporaryDirectory() as temp_dir, tft_beam.Context(temp_dir=temp_dir), \
            beam.Pipeline() as pipeline:
        transform_fn = ((pipeline | beam.Create(instances, reshuffle=False), metadata)
                        | tft_beam.AnalyzeDataset(preprocessing.preprocessing_fn))
        _ = transform_fn | tft_beam.WriteTransformFn(str(root / "transform"))
    metadata_io.write_metadata(
        metadata, str(root / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR))
    return {"root": root, "tft_output": tft.TFTransformOutput(str(root / "transform")),
            "train_rows": train_rows, "eval_rows": built.splits[features.EVAL_SPLIT]}


def _patterns(sample, split):
    return [str(sample["root"] / f"Split-{split}" / "*")]


def _train(sample, **overrides):
    return training.train(_patterns(sample, features.TRAIN_SPLIT),
                          _patterns(sample, features.EVAL_SPLIT), sample["tft_output"],
                          Hyperparameters(**{**SMALL, **overrides}))


def test_block_names_are_checked_and_split_by_side():
    hparams = Hyperparameters(blocks=["item_id", "user_id", "history", "item_tags"])
    assert hparams.user_blocks == ["user_id", "history"]
    assert hparams.item_blocks == ["item_id", "item_tags"]
    with pytest.raises(ValueError, match="unknown ranking feature block"):
        Hyperparameters(blocks=["user_id", "item_idd"])
    with pytest.raises(ValueError, match="at least one user block"):
        Hyperparameters(blocks=["item_id", "item_tags"])
    assert "model_name" not in RankingSettings().to_dict()


def test_blocks_without_features_in_the_data_are_left_out():
    raw_spec = {features.USER_ID: tf.io.FixedLenFeature([1], tf.string),
                features.ITEM_ID: tf.io.FixedLenFeature([1], tf.string),
                "item_year": tf.io.FixedLenFeature([1], tf.float32)}
    blocks = training.usable_blocks(Hyperparameters().blocks, raw_spec)
    assert blocks == ["user_id", "item_id", "item_numeric"]
    assert training.raw_features_for(blocks, raw_spec) == [
        features.USER_ID, features.ITEM_ID, "item_year"]


@pytest.fixture(scope="module")
def rating_model(sample):
    return _train(sample)


def test_rating_model_learns(sample, rating_model):
    model, history = rating_model
    assert model.user_vector.block_names == ["user_id", "user_features", "history"]
    assert model.item_vector.block_names == ["item_id", "item_tags", "item_numeric"]
    train_rmse = history.history["rmse"]
    assert train_rmse[-1] < 0.85 * train_rmse[0], train_rmse
    mean = np.mean([row[features.RATING] for row in sample["train_rows"]])
    mean_predictor_rmse = np.sqrt(np.mean(
        [(row[features.RATING] - mean) ** 2 for row in sample["eval_rows"]]))
    assert history.history["val_rmse"][-1] < 0.95 * mean_predictor_rmse


def test_implicit_multitask_stacked_model_learns(sample):
    _, history = _train(sample, task="implicit", negatives=2, retrieval_weight=0.5,
                        cross_structure="stacked", cross_projection_dim=8,
                        feature_dropout=0.0, learning_rate=1e-2)
    losses, auc = history.history["loss"], history.history["auc"]
    assert losses[-1] < losses[0], losses
    assert auc[-1] > 0.65 and auc[0] < 0.6, auc


@pytest.fixture(scope="module")
def exported(sample, rating_model, tmp_path_factory):
    model, _ = rating_model
    raw_spec = sample["tft_output"].raw_feature_spec()
    catalogue = catalogue_lib.read_catalogue(
        _patterns(sample, features.CANDIDATES_SPLIT), raw_spec,
        training.item_raw_features(Hyperparameters(), raw_spec))
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    # The sampled-AUC signatures of implicit feedback work on any model: test them here.
    export.export_serving_model(model, sample["tft_output"], catalogue, export_dir,
                                eval_negatives=2)
    return model, tf.saved_model.load(export_dir)


def _score_inputs(rows):
    """The `score` signature's inputs for example rows (histories padded with "")."""
    histories = [row[features.HISTORY_ITEM_IDS] for row in rows]
    width = max(len(history) for history in histories)
    inputs = {name: tf.constant([row[name] for row in rows])
              for name in (features.USER_ID, features.ITEM_ID, "user_age", "user_gender",
                           "user_occupation")}
    inputs[features.HISTORY_ITEM_IDS] = tf.constant(
        [history + [""] * (width - len(history)) for history in histories])
    return inputs


def test_exported_score_matches_the_in_memory_model(sample, exported):
    model, loaded = exported
    rows = sample["eval_rows"][:64]
    raw = tf.io.parse_example(
        [examples_lib.to_tf_example(row).SerializeToString() for row in rows],
        sample["tft_output"].raw_feature_spec())
    in_memory = model(sample["tft_output"].transform_features_layer()(raw)).numpy()
    served = loaded.signatures["score"](**_score_inputs(rows))["scores"].numpy()
    np.testing.assert_allclose(served, in_memory, rtol=1e-5, atol=1e-5)


def test_serving_default_on_examples_equals_score(sample, exported):
    _, loaded = exported
    rows = sample["eval_rows"][64:96]
    examples = tf.constant([examples_lib.to_tf_example(row).SerializeToString() for row in rows])
    predictions = loaded.signatures["serving_default"](examples=examples)["predictions"]
    scores = loaded.signatures["score"](**_score_inputs(rows))["scores"]
    assert predictions.shape == (len(rows),)
    np.testing.assert_allclose(predictions.numpy(), scores.numpy(), rtol=1e-6)


def test_sampled_evaluation_pairs_each_example_with_fixed_negatives(sample, exported):
    _, loaded = exported
    examples = tf.constant([examples_lib.to_tf_example(row).SerializeToString()
                            for row in sample["eval_rows"][:16]])
    scores = loaded.signatures[export.SAMPLED_SCORES](examples=examples)["predictions"].numpy()
    labels = loaded.signatures[export.SAMPLED_LABELS](examples=examples)[export.SAMPLED_LABELS]
    assert scores.shape == labels.shape == (16, 3)
    np.testing.assert_array_equal(labels.numpy()[0], [1.0, 0.0, 0.0])
    own_item = loaded.signatures["serving_default"](examples=examples)["predictions"].numpy()
    np.testing.assert_allclose(scores[:, 0], own_item, rtol=1e-6)
    again = loaded.signatures[export.SAMPLED_SCORES](examples=examples)["predictions"].numpy()
    np.testing.assert_array_equal(scores, again)


def test_unknown_users_and_items_get_finite_scores(exported):
    _, loaded = exported
    scores = loaded.signatures["score"](
        user_id=tf.constant(["no-such-user", "u0001", "no-such-user"]),
        item_id=tf.constant(["i00001", "no-such-item", "no-such-item"]),
        history_item_ids=tf.constant([["no-such-item", ""], ["", ""], ["", ""]]),
        user_age=tf.constant([30.0, 30.0, 999.0]),
        user_gender=tf.constant(["F", "F", "?"]),
        user_occupation=tf.constant(["chef", "chef", "astronaut"]))["scores"].numpy()
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


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
        "sampled_scores", ["sampled_labels"], export.SAMPLED_LABELS)
    gate = {m.class_name: m for m in implicit.metrics_specs[0].metrics}["AUC"]
    assert gate.per_slice_thresholds[0].threshold.value_threshold.lower_bound.value == 0.75


def test_branch_components_are_wired_per_task():
    from tfx import v1 as tfx

    def channel(artifact_type):
        return tfx.dsl.Channel(type=artifact_type)

    artifacts = tfx.types.standard_artifacts
    trainer, resolver, evaluator, pusher = ranking_branch.create_ranking_components(
        RankingSettings(task="implicit", model_name="rank"), channel(artifacts.Examples),
        channel(artifacts.TransformGraph), channel(artifacts.Schema), "/serving")
    assert [c.id for c in (trainer, resolver, evaluator, pusher)] == [
        "ImplicitRankingTrainer", "ImplicitRankingBaselineResolver",
        "ImplicitRankingEvaluator", "ImplicitRankingPusher"]
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
            RankingSettings(blocks=["user_id", "item_text"]), channel(artifacts.Examples),
            channel(artifacts.TransformGraph), channel(artifacts.Schema), "/serving")
