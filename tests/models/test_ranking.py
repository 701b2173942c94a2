"""The DCN ranking model on a small synthetic sample: blocks, training, export."""
import numpy as np
import pytest
import tensorflow as tf

from components.example_gen import encoding
from components.example_gen.split_config import SplitConfig
from data_contract import synthetic
from models import blocks, features, trainer_lib
from models.ranking import export
from models.ranking.hparams import RankingHparams
from models.ranking.trainer_module import Ranking
from training_sample import write_training_sample

SMALL = dict(epochs=8, batch_size=256, embedding_dim=16, deep_layers=[32], learning_rate=3e-3)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Examples splits on disk and the Transform output of their train split."""
    dataset = synthetic.generate(num_users=120, num_items=150, num_interactions=4000, seed=7)
    return write_training_sample(tmp_path_factory.mktemp("ranking"), dataset,
                                 SplitConfig(method="random"), history_length=5)


def _prepare(sample, **overrides):
    return trainer_lib.prepare(
        Ranking(), RankingHparams(**{**SMALL, **overrides}), sample.tft_output,
        sample.files(features.TRAIN_SPLIT), sample.files(features.EVAL_SPLIT),
        sample.files(features.CANDIDATES_SPLIT))


def _train(sample, **overrides):
    run = _prepare(sample, **overrides)
    model, history = Ranking().fit(run)
    return run, model, history


def test_block_names_are_checked_and_split_by_side():
    hparams = RankingHparams(blocks=["item_id", "user_id", "history", "item_tags"])
    assert hparams.user_blocks == ["user_id", "history"]
    assert hparams.item_blocks == ["item_id", "item_tags"]
    with pytest.raises(ValueError, match="unknown ranking feature block"):
        RankingHparams(blocks=["user_id", "item_idd"])
    with pytest.raises(ValueError, match="at least one user block"):
        RankingHparams(blocks=["item_id", "item_tags"])


@pytest.fixture(scope="module")
def rating_model(sample):
    return _train(sample)


def _ratings(rows):
    return np.array([row[features.RATING] for row in rows])


def biases_rmse(train_rows, eval_rows, shrinkage=5.0, sweeps=10):
    """RMSE on eval of mean + user bias + item bias, each shrunk toward 0 (alternating
    least squares); an id unseen in train has bias 0."""
    ratings = _ratings(train_rows)
    mean = ratings.mean()

    def codes(name):
        index = {value: k for k, value in enumerate({row[name] for row in train_rows})}
        return (len(index), np.array([index[row[name]] for row in train_rows]),
                np.array([index.get(row[name], -1) for row in eval_rows]))

    (num_users, users, eval_users), (num_items, items, eval_items) = (
        codes(features.USER_ID), codes(features.ITEM_ID))
    # The last entry, 0, is the unseen ids' (code -1).
    user_bias, item_bias = np.zeros(num_users + 1), np.zeros(num_items + 1)
    for _ in range(sweeps):
        item_bias[:-1] = (np.bincount(items, ratings - mean - user_bias[users], num_items)
                          / (np.bincount(items, minlength=num_items) + shrinkage))
        user_bias[:-1] = (np.bincount(users, ratings - mean - item_bias[items], num_users)
                          / (np.bincount(users, minlength=num_users) + shrinkage))
    predictions = mean + user_bias[eval_users] + item_bias[eval_items]
    return np.sqrt(np.mean((predictions - _ratings(eval_rows)) ** 2))


def _predictions(sample, run, model, rows):
    """The in-memory model's predictions for example rows, joined to their items'
    features as in training."""
    raw_spec = sample.tft_output.raw_feature_spec()
    raw = tf.io.parse_example(encoding.serialize(encoding.batch_from_rows(rows)), raw_spec)
    items = run.item_join(blocks.raw_features(run.block_names, raw_spec))(
        tf.reshape(raw[features.ITEM_ID], [-1]))
    return model({**sample.tft_output.transform_features_layer()(raw), **items}).numpy()


def _eval_rmse(sample, run, model):
    rows = sample.rows[features.EVAL_SPLIT]
    return np.sqrt(np.mean((_predictions(sample, run, model, rows) - _ratings(rows)) ** 2))


def test_rating_model_learns(sample, rating_model):
    _, model, history = rating_model
    assert model.user_vector.block_names == ["user_id", "user_features", "history"]
    assert model.item_vector.block_names == ["item_id", "item_tags", "item_numeric"]
    assert [pool.name for pool in model.user_vector.pools] == ["user_neighbours"]
    assert [pool.name for pool in model.item_vector.pools] == ["item_neighbours"]
    train_rmse = history["rmse"]
    assert train_rmse[-1] < 0.85 * train_rmse[0], train_rmse
    mean = np.mean(_ratings(sample.rows[features.TRAIN_SPLIT]))
    mean_predictor_rmse = np.sqrt(np.mean((_ratings(sample.rows[features.EVAL_SPLIT]) - mean) ** 2))
    assert history["val_rmse"][-1] < 0.95 * mean_predictor_rmse


def test_rating_model_beats_user_and_item_biases(sample, rating_model):
    """The fitted model (its averaged weights) scores eval well below mean + biases,
    which knows every user's and item's average rating but not what users like.
    (About 0.92 of its RMSE; the same model without neighbour pools gets 0.94.)"""
    run, model, _ = rating_model
    baseline = biases_rmse(sample.rows[features.TRAIN_SPLIT], sample.rows[features.EVAL_SPLIT])
    assert _eval_rmse(sample, run, model) < 0.93 * baseline, baseline


def test_pools_read_the_user_id_when_no_block_does(sample):
    run, model, history = _train(sample, blocks=["history", "item_id"], epochs=2)
    assert np.isfinite(history["loss"]).all()
    assert export.user_raw_features(model, run.raw_feature_spec) == [
        features.HISTORY_ITEM_IDS, features.USER_ID]


def test_implicit_multitask_stacked_model_learns(sample):
    _, _, history = _train(sample, task="implicit", negatives=2, retrieval_weight=0.5,
                        cross_structure="stacked", cross_projection_dim=8,
                        feature_dropout=0.0, learning_rate=1e-2)
    losses, auc = history["loss"], history["auc"]
    assert losses[-1] < losses[0], losses
    assert auc[-1] > 0.65 and auc[0] < 0.6, auc


@pytest.fixture(scope="module")
def exported(rating_model, tmp_path_factory):
    run, model, _ = rating_model
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    # The sampled-AUC signatures of implicit feedback work on any model: test them here.
    export.export_serving_model(model, run, export_dir, eval_negatives=2)
    return run, model, tf.saved_model.load(export_dir)


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
    run, model, loaded = exported
    rows = sample.rows[features.EVAL_SPLIT][:64]
    in_memory = _predictions(sample, run, model, rows)
    served = loaded.signatures["score"](**_score_inputs(rows))["scores"].numpy()
    np.testing.assert_allclose(served, in_memory, rtol=1e-5, atol=1e-5)


def test_serving_default_on_examples_equals_score(sample, exported):
    *_, loaded = exported
    rows = sample.rows[features.EVAL_SPLIT][64:96]
    examples = tf.constant(encoding.serialize(encoding.batch_from_rows(rows)))
    predictions = loaded.signatures["serving_default"](examples=examples)["predictions"]
    scores = loaded.signatures["score"](**_score_inputs(rows))["scores"]
    assert predictions.shape == (len(rows),)
    np.testing.assert_allclose(predictions.numpy(), scores.numpy(), rtol=1e-6)


def test_sampled_evaluation_pairs_each_example_with_fixed_negatives(sample, exported):
    *_, loaded = exported
    examples = tf.constant(encoding.serialize(encoding.batch_from_rows(
        sample.rows[features.EVAL_SPLIT][:16])))
    scores = loaded.signatures[export.SAMPLED_SCORES](examples=examples)["predictions"].numpy()
    labels = loaded.signatures[export.SAMPLED_LABELS](examples=examples)[export.SAMPLED_LABELS]
    assert scores.shape == labels.shape == (16, 3)
    np.testing.assert_array_equal(labels.numpy()[0], [1.0, 0.0, 0.0])
    own_item = loaded.signatures["serving_default"](examples=examples)["predictions"].numpy()
    np.testing.assert_allclose(scores[:, 0], own_item, rtol=1e-6)
    again = loaded.signatures[export.SAMPLED_SCORES](examples=examples)["predictions"].numpy()
    np.testing.assert_array_equal(scores, again)


def test_unknown_users_and_items_get_finite_scores(exported):
    *_, loaded = exported
    scores = loaded.signatures["score"](
        user_id=tf.constant(["no-such-user", "u0001", "no-such-user"]),
        item_id=tf.constant(["i00001", "no-such-item", "no-such-item"]),
        history_item_ids=tf.constant([["no-such-item", ""], ["", ""], ["", ""]]),
        user_age=tf.constant([30.0, 30.0, 999.0]),
        user_gender=tf.constant(["F", "F", "?"]),
        user_occupation=tf.constant(["chef", "chef", "astronaut"]))["scores"].numpy()
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
