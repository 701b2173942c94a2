"""The retrieval model's families on a small synthetic sample: training, selection, export, cold start."""
import dataclasses
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_text  # noqa: F401

from components.example_gen.split_config import SplitConfig
from data_contract import csv_files, synthetic
from models import blocks, export_lib, families, features, layers, text_encoder, trainer_lib
from models.baselines.ease import ease_weights
from models.retrieval import data, export, item_item, selection
from models.retrieval.hparams import RetrievalHparams
from models.retrieval.trainer_module import Retrieval, epochs_within_budget
from training_sample import CSV_DIR, write_training_sample

SMALL = dict(embedding_dim=32, validation_every=2, patience=3, sequence_length=10)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return text_encoder.export_encoder(str(tmp_path_factory.mktemp("encoder") / "encoder"),
                                       sequence_length=32)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Examples on disk (temporal split) and a Transform output for a small catalogue."""
    dataset = synthetic.generate(num_users=150, num_items=200, num_interactions=6000, seed=5)
    return write_training_sample(tmp_path_factory.mktemp("retrieval"), dataset, SplitConfig(),
                                 history_length=5)


def _prepare(data_sample, encoder, **hparams):
    hparams = RetrievalHparams(**{**SMALL, **hparams})
    return trainer_lib.prepare(
        Retrieval(), hparams, data_sample.tft_output, data_sample.files(features.TRAIN_SPLIT),
        data_sample.files(features.EVAL_SPLIT), data_sample.files(features.CANDIDATES_SPLIT),
        encoder)


def _train(data_sample, encoder, **hparams):
    run = _prepare(data_sample, encoder, **hparams)
    model, history = Retrieval().fit(run)
    return run, model, history


def test_text_families_need_the_text_encoder(sample):
    with pytest.raises(ValueError, match="need the text encoder as the Trainer's base_model"):
        _prepare(sample, None, family="content")


@pytest.mark.parametrize("family", sorted(families.FAMILIES))
def test_each_family_builds_from_its_blocks_and_learns(sample, encoder_dir, family):
    run, model, history = _train(sample, encoder_dir, family=family, epochs=12)
    # The split is temporal: selection tried the future objective with every block
    # and denoising without the order-aware ones, and kept the better.
    kept_order = history["objective"] == ["future"]
    assert [block.name for block in model.query_tower.blocks] == [
        name for name in families.get(family).query_blocks
        if (kept_order or not blocks.get(name).order_aware) and not blocks.get(name).item_item]
    has_item_item = "item_item" in families.get(family).query_blocks
    assert (model.item_item is not None) == has_item_item
    if has_item_item:  # fitted after the towers, its blend chosen on the carve
        assert history["item_item_scale"][0] in run.hparams.item_item_scales
        assert history["item_item_decay"][0] in run.hparams.item_item_decays
        assert history["item_item_sequence_weight"][0] in run.hparams.item_item_sequence_weights
        assert len(history["item_item_validation_ndcg@10"]) == (  # the split is temporal
            len(run.hparams.item_item_scales) * len(run.hparams.item_item_decays)
            * len(run.hparams.item_item_sequence_weights))
    assert (run.text_encoder is not None) == families.get(family).uses_text
    losses = history["selection_loss"]  # noisy: each step draws what is held out
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    scores = history[selection.METRIC]
    assert max(scores) > 1.1 * scores[0], scores
    assert 0 < history["best_epoch"][0] <= 12


def test_model_selection_keeps_the_best_epoch_and_refits_from_scratch_for_as_long(sample):
    run, model, history = _train(sample, None, epochs=10, validation_every=2, patience=1,
                                 refit="scratch")
    best = history["best_epoch"][0]
    scored = dict(zip(history["validation_epochs"], history[selection.METRIC]))
    assert scored[best] == max(scored.values())
    # Stopped once a score after the best did not improve on it.
    assert max(scored) <= best + 2
    assert len(history["loss"]) == best  # the refit, on whole histories


def test_only_the_leading_recipe_trains_past_the_race_then_continues_on_whole_histories(sample):
    run, model, history = _train(sample, None, epochs=12, validation_every=2, patience=6,
                                 race_epochs=4, refit_epochs=3)
    chosen = history["objective"][0]
    other = ({"future", "denoise"} - {chosen}).pop()  # the split is temporal: both raced
    assert history[f"{other}_validation_epochs"] == [2, 4]
    assert len(history[f"{other}_loss"]) == 4
    # The leader at the race is the one that went on, and scored past it.
    assert max(history[f"{chosen}_{selection.METRIC}"][:2]) >= max(
        history[f"{other}_{selection.METRIC}"])
    assert history["validation_epochs"] == [2, 4, 6, 8, 10, 12]
    assert len(history[f"{chosen}_loss"]) == 12
    assert len(history["loss"]) == 3  # the refit went on for refit_epochs


def test_the_leader_stops_where_max_steps_run_out(sample):
    # 150 users in batches of 150 // min_steps_per_epoch = 18: 9 steps an epoch. The
    # leader's 2 race epochs leave 40 - 18 = 22 steps: 2 epochs more, not 10.
    run, model, history = _train(sample, None, epochs=12, validation_every=2, patience=6,
                                 race_epochs=2, refit="none", max_steps=40)
    chosen = history["objective"][0]
    assert history["validation_epochs"] == [2, 4]
    assert len(history[f"{chosen}_loss"]) == 4


def test_max_steps_never_leaves_a_model_untrained():
    hparams = RetrievalHparams(epochs=150, max_steps=100)
    assert epochs_within_budget(hparams, steps_per_epoch=546) == 1
    assert epochs_within_budget(hparams, 546, epochs_done=15, steps_done=2370) == 15
    assert epochs_within_budget(hparams, steps_per_epoch=8) == 12
    assert epochs_within_budget(RetrievalHparams(epochs=150, max_steps=0), 546) == 150


def test_above_race_max_users_the_race_trains_on_a_stable_sample(sample):
    run, model, history = _train(sample, None, epochs=2, validation_every=2, race_epochs=2,
                                 refit="none", race_max_users=50)
    fit_part, _ = data.carved(data.users(run), run.hparams.validation_fraction,
                              run.split.order_matters, run.hparams.seed)
    chosen = [data.sampled(fit_part, 50 / 150, run.hparams.seed) for _ in range(2)]
    ids = [np.concatenate([b[features.USER_ID].numpy() for b in users]) for users in chosen]
    np.testing.assert_array_equal(ids[0], ids[1])  # the same users on every pass
    assert 30 <= len(ids[0]) <= 70
    # Batches of 150 // min_steps_per_epoch = 18 users: two epochs over all 150 users
    # take 18 steps, over the sample at most 2 * ceil(70 / 18) = 8 (the optimizer's
    # count is one more per fit call).
    assert history["validation_epochs"] == [2]
    assert model.optimizer.iterations.numpy() <= 2 * -(-70 // 18) + 1


def test_above_validation_max_users_the_carve_is_scored_on_a_stable_sample(sample):
    run, model, history = _train(sample, None, epochs=4, validation_every=2, refit="none",
                                 validation_max_users=50)
    best = history["best_epoch"][0]
    carve_score = dict(zip(history["validation_epochs"], history[selection.METRIC]))[best]
    _, validation = data.carved(data.users(run), run.hparams.validation_fraction,
                                run.split.order_matters, run.hparams.seed)
    if model.item_item is not None:
        model.item_item.scale.assign(0.0)
    chosen = data.sampled(validation, 50 / 150, run.hparams.seed)
    assert selection.validation_ndcg(model, chosen) == pytest.approx(carve_score, abs=1e-5)
    assert selection.validation_ndcg(model, validation) != pytest.approx(carve_score, abs=1e-5)


def test_refit_none_keeps_the_selected_model(sample):
    run, model, history = _train(sample, None, epochs=4, validation_every=2, refit="none")
    assert "loss" not in history
    best = history["best_epoch"][0]
    carve_score = dict(zip(history["validation_epochs"], history[selection.METRIC]))[best]
    fit_part, validation = data.carved(data.users(run), run.hparams.validation_fraction,
                                       run.split.order_matters, run.hparams.seed)
    if model.item_item is not None:
        model.item_item.scale.assign(0.0)
    assert selection.validation_ndcg(model, validation) == pytest.approx(carve_score, abs=1e-5)


def test_each_blend_scores_what_the_model_holding_it_scores_on_the_carve(sample):
    run, model, _ = _train(sample, None, family="cf", epochs=2, validation_every=2,
                           refit="none")
    fit_part, validation = data.carved(data.users(run), run.hparams.validation_fraction,
                                       run.split.order_matters, run.hparams.seed)
    weights = item_item.fit_weights(fit_part, model.item_item.vocab_size,
                                    run.hparams.item_item_l2)
    best, scores = item_item.choose_blend(model, validation, weights, [0.0, 1.0],
                                          [0.0, 2.0, 32.0], [1.0, 0.8])
    assert len(scores) == 12 and len(set(scores.values())) > 1
    for decay, weight, scale in [best, (0.8, 1.0, 32.0), (1.0, 0.0, 2.0), (1.0, 1.0, 0.0)]:
        model.item_item.matrix.assign(weights.blend(weight))
        model.item_item.decay.assign(decay)
        model.item_item.scale.assign(scale)
        assert selection.validation_ndcg(model, validation) == pytest.approx(
            scores[(decay, weight, scale)], abs=1e-5)


@pytest.mark.parametrize("towers_sd, term_sd, rounding", [
    (1.0, 1.0, None),   # smooth scores: the candidates hold the top 10
    (1.0, -1.0, None),  # the term against the towers: candidates and catalogue
    (1.0, 1.0, 0.5),    # coarse scores, ties at every rank
])
def test_blended_top_k_ranks_as_the_whole_catalogue_does(towers_sd, term_sd, rounding):
    rng = np.random.default_rng(0)
    towers = rng.normal(0, towers_sd, (64, 400)).astype(np.float32)
    term = (np.sign(term_sd) * towers * 0.5
            + rng.normal(0, abs(term_sd), towers.shape)).astype(np.float32)
    if rounding:
        towers, term = np.round(towers / rounding) * rounding, np.round(term / rounding) * rounding
    excluded = rng.random(towers.shape) < 0.3
    scales = [0.0, 0.5, 2.0, 128.0]
    tops = item_item.blended_top_k(tf.constant(towers), tf.constant(term), tf.constant(scales),
                                   tf.constant(excluded), k=10, width=20).numpy()
    for scale, top in zip(scales, tops):
        scores = np.where(excluded, np.finfo(np.float32).min, towers + np.float32(scale) * term)
        expected = tf.math.top_k(tf.constant(scores), k=10).indices.numpy()
        np.testing.assert_array_equal(top, expected)


def test_a_random_split_leaves_the_order_aware_block_out(tmp_path, encoder_dir):
    dataset = synthetic.generate(num_users=80, num_items=100, num_interactions=2000, seed=2)
    random_sample = write_training_sample(tmp_path, dataset, SplitConfig(method="random"), 5)
    run = _prepare(random_sample, encoder_dir, family="hybrid")
    assert "history_sequence" not in run.block_names and "history_bag" in run.block_names
    assert not run.split.order_matters


def test_every_family_trains_on_interactions_and_titles_only(tmp_path, encoder_dir):
    """No user fields, no tags: the blocks that read them drop out; each family trains."""
    dataset = csv_files.load_csv({
        "interactions": {"path": "ratings.csv", "columns": {
            "user_id": "uid", "item_id": "iid", "rating": "stars", "timestamp": "ts"}},
        "items": {"path": "products.csv", "columns": {"item_id": "sku"},
                  "text_fields": ["title"]},
    }, base_dir=str(CSV_DIR))
    titles_only = write_training_sample(tmp_path, dataset, SplitConfig(eval_fraction=0.0), 5)
    for family in sorted(families.FAMILIES):
        run, model, _ = _train(titles_only, encoder_dir, family=family, epochs=2)
        assert "user_features" not in run.block_names and "item_tags" not in run.block_names
        assert np.isfinite(model.scores(next(iter(data.users(run))))).all()


def test_the_sampled_softmax_learns_too(sample):
    """Above full_softmax_max_items, the softmax runs over targets plus drawn items."""
    run, model, history = _train(sample, None, epochs=8, full_softmax_max_items=50,
                                 sampled_negatives=64)
    assert model.sampled
    assert max(history[selection.METRIC]) > 1.1 * history[selection.METRIC][0]


@pytest.fixture(scope="module")
def exported_hybrid_model(sample, encoder_dir, tmp_path_factory):
    run, model, _ = _train(sample, encoder_dir, family="hybrid", epochs=6)
    export_dir = str(tmp_path_factory.mktemp("exported"))
    Retrieval().export(model, run, export_dir)
    return model, run, tf.saved_model.load(export_dir)


def _user_inputs(history):
    return {features.HISTORY_ITEM_IDS: tf.constant([history]),
            "user_age": tf.constant([30.0]), "user_gender": tf.constant(["F"]),
            "user_occupation": tf.constant(["chef"])}


def test_exported_model_scores_like_the_in_memory_model(exported_hybrid_model):
    model, run, loaded = exported_hybrid_model
    tft_layer = run.tft_output.transform_features_layer()
    inputs = _user_inputs([b"i00001", b"i00002", b"i00007", b""])
    transformed = tft_layer(export_lib.to_raw_features(inputs, run.raw_feature_spec))
    in_memory = model.scores(transformed).numpy()[0]
    vocabulary = run.tft_output.vocabulary_by_name("item_id")
    served = loaded.signatures["retrieve"](**inputs)
    served_items = [i for i in served["item_ids"].numpy()[0] if i in vocabulary]
    expected = {item: in_memory[vocabulary.index(item)] for item in served_items}
    np.testing.assert_allclose(
        [s for i, s in zip(served["item_ids"].numpy()[0], served["scores"].numpy()[0])
         if i in expected], list(expected.values()), atol=1e-4)
    # The raw-text path (encoder in the graph) gives the index's embeddings.
    catalogue = run.catalogue
    first = {name: value[:5] if not isinstance(value, tf.SparseTensor) else
             tf.sparse.slice(value, [0, 0], [5, value.dense_shape[1]])
             for name, value in catalogue.raw_features.items()}
    texts = tf.reshape(first[features.ITEM_TEXT], [-1])
    tags = tf.sparse.to_dense(first[features.ITEM_TAGS])
    ids = tf.reshape(first[features.ITEM_ID], [-1])
    from_text = loaded.signatures["candidate_embedding"](
        item_id=ids, item_text=texts, item_tags=tags)["embedding"].numpy()
    index = export.candidate_embeddings(model, catalogue, tft_layer)[:5]
    np.testing.assert_allclose(from_text, index, atol=1e-4)


def test_a_different_history_gives_different_recommendations(exported_hybrid_model):
    _, _, loaded = exported_hybrid_model
    first = loaded.signatures["retrieve"](**_user_inputs([b"i00001", b"i00002"]))["item_ids"]
    second = loaded.signatures["retrieve"](**_user_inputs([b"i00150", b"i00180"]))["item_ids"]
    assert list(first.numpy()[0][:10]) != list(second.numpy()[0][:10])


def test_unknown_users_and_items_are_ordinary_inputs(exported_hybrid_model):
    _, _, loaded = exported_hybrid_model
    inputs = _user_inputs([b"no-such-item", b""])
    inputs["user_gender"] = tf.constant(["nobody knows"])
    scores = loaded.signatures["retrieve"](**inputs)["scores"].numpy()
    assert np.isfinite(scores).all()


def test_unseen_item_is_retrieved_from_its_text_for_a_matching_user(sample, encoder_dir,
                                                                    tmp_path):
    run, model, _ = _train(sample, encoder_dir, family="content", epochs=30)
    Retrieval().export(model, run, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    catalogue = run.catalogue
    tags = tf.sparse.to_dense(catalogue.raw_features[features.ITEM_TAGS]).numpy()
    space_items = [catalogue.item_ids[row] for row in range(len(catalogue.item_ids))
                   if b"space" in list(tags[row])]
    assert len(space_items) >= 3
    user = _user_inputs(space_items[:5])
    query = loaded.signatures["query_embedding"](**user)["embedding"]
    new_item_text = "galaxy rocket orbit: an astronaut and a telescope chase a comet past the planet"
    new_item = loaded.signatures["candidate_embedding"](
        item_text=tf.constant([new_item_text]), item_tags=tf.constant([["space"]]))["embedding"]
    top_scores = loaded.signatures["retrieve"](**user)["scores"]
    # Among the top tenth of the 200-item catalogue for this user (at random: the middle).
    assert float(tf.reduce_sum(query * new_item)) >= float(top_scores[0][19])


@pytest.fixture(scope="module")
def exported_cf_model(tmp_path_factory):
    """cf on a random split: the query is the history bag plus an offset."""
    root = tmp_path_factory.mktemp("cf")
    dataset = synthetic.generate(num_users=120, num_items=150, num_interactions=4000, seed=9)
    random_sample = write_training_sample(root, dataset, SplitConfig(method="random"), 5)
    # The item-item term always on, so that the tests below cover it.
    run, model, _ = _train(random_sample, None, family="cf", epochs=6, item_item_scales=[1.0],
                           item_item_decays=[0.8])
    assert [block.name for block in model.query_tower.blocks] == ["history_bag"]
    assert model.item_item.scale.numpy() == 1.0
    # A random split weighs the whole history alike; recent items weighing more
    # (as a temporal split chooses) is covered below.
    assert model.item_item.decay.numpy() == 1.0
    model.item_item.decay.assign(0.8)
    Retrieval().export(model, run, str(root / "exported"))
    return model, run, tf.saved_model.load(str(root / "exported"))


def _explain(loaded, history, items):
    return {name: value.numpy() for name, value in loaded.signatures["explain"](
        history_item_ids=tf.constant([history]), item_ids=tf.constant([items])).items()}


def test_history_contributions_add_up_to_the_score_exactly(exported_cf_model):
    model, run, loaded = exported_cf_model
    history = [b"i00003", b"i00010", b"i00042", b"i00077", b""]
    top = loaded.signatures["retrieve"](history_item_ids=tf.constant([history]))
    items = list(top["item_ids"].numpy()[0][:5])
    explained = _explain(loaded, history, items)
    np.testing.assert_allclose(explained["scores"][0], top["scores"].numpy()[0][:5], atol=1e-4)
    # The served scores are the in-memory model's, item-item term included.
    tft_layer = run.tft_output.transform_features_layer()
    transformed = tft_layer(export_lib.to_raw_features(
        {features.HISTORY_ITEM_IDS: tf.constant([history])}, run.raw_feature_spec))
    in_memory = model.scores(transformed).numpy()[0]
    vocabulary = run.tft_output.vocabulary_by_name("item_id")
    np.testing.assert_allclose(top["scores"].numpy()[0][:5],
                               [in_memory[vocabulary.index(item)] for item in items], atol=1e-4)
    item_item_terms = model.item_item(transformed).numpy()[0]
    assert np.abs(item_item_terms).max() > 0
    terms = explained["history_contributions"][0]
    assert terms.shape == (5, len(history)) and np.all(terms[:, -1] == 0)  # padding
    # What is not attributed to history items is the item's bias and the query offset.
    vectors, bias = model.item_vectors()
    rows = [vocabulary.index(item) for item in items]
    expected = (tf.gather(vectors, rows).numpy() @ model.query_tower.offset.numpy()
                + tf.gather(bias, rows).numpy())
    np.testing.assert_allclose(explained["unattributed"][0], expected, atol=1e-4)
    np.testing.assert_allclose(terms.sum(axis=1) + explained["unattributed"][0],
                               explained["scores"][0], atol=1e-4)
    np.testing.assert_allclose(explained["item_part_contributions"][0].sum(axis=1),
                               terms.sum(axis=1), atol=1e-4)
    assert [p.decode() for p in explained["item_parts"][0]] == ["item_id", "item_item"]


def test_removing_the_top_contributor_lowers_the_score(exported_cf_model):
    _, _, loaded = exported_cf_model
    history = [b"i00003", b"i00010", b"i00042", b"i00077", b"i00100", b"i00120"]
    items = list(loaded.signatures["retrieve"](
        history_item_ids=tf.constant([history]))["item_ids"].numpy()[0][:10])
    explained = _explain(loaded, history, items)
    for k, item in enumerate(items):
        top = int(np.argmax(explained["history_contributions"][0][k]))
        without = history[:top] + history[top + 1:]
        assert _explain(loaded, without, [item])["scores"][0][0] < explained["scores"][0][k]


def test_content_evidence_splits_by_the_items_parts(exported_hybrid_model):
    _, _, loaded = exported_hybrid_model
    inputs = _user_inputs([b"i00001", b"i00002", b"i00007"])
    items = loaded.signatures["retrieve"](**inputs)["item_ids"][:, :3]
    explained = loaded.signatures["explain"](**inputs, item_ids=items)
    parts = [p.decode() for p in explained["item_parts"].numpy()[0]]
    assert parts == ["item_id", "item_text", "item_tags", "item_item"]
    np.testing.assert_allclose(
        explained["item_part_contributions"].numpy().sum(axis=2),
        explained["history_contributions"].numpy().sum(axis=2), atol=1e-4)


import json
import logging
import subprocess
import sys


def test_forward_cooccurrence_counts_what_users_took_next_within_the_window():
    # Histories most recent first: user 0 took 1, then 2, then 3; user 1 took 5, then 4.
    rows = np.array([0, 0, 0, 1, 1])
    items = np.array([3, 2, 1, 4, 5])
    forward = item_item.forward_cooccurrence(rows, items, vocab_size=6, window=2,
                                             step_decay=0.5)
    expected = np.zeros((6, 6))
    # Each row's counts over their sum plus one: 1 -> 2 next (1), 1 -> 3 two later (0.5).
    expected[1, 2], expected[1, 3] = 1 / 2.5, 0.5 / 2.5
    expected[2, 3] = 1 / 2
    expected[5, 4] = 1 / 2
    # Nothing runs across users (1 and 4 are neighbours in the lists) or backwards.
    np.testing.assert_allclose(forward, expected)
    one_step = item_item.forward_cooccurrence(rows, items, vocab_size=6, window=1)
    assert one_step[1, 3] == 0 and one_step[1, 2] == 0.5


def test_forward_cooccurrence_adds_up_every_step_when_the_pairs_outnumber_the_cells():
    # 3 items (9 cells) and histories of 40: the steps' pairs are added up in several goes.
    rng = np.random.default_rng(0)
    rows = np.repeat([0, 1], 40)
    items = rng.integers(0, 3, len(rows))
    expected = np.zeros((3, 3))
    for position in range(len(rows)):
        for step in range(1, 21):
            later = position + step
            if later < len(rows) and rows[later] == rows[position]:
                # Most recent first: the entry further on in the list came earlier.
                expected[items[later], items[position]] += 0.9 ** (step - 1)
    np.fill_diagonal(expected, 0.0)
    expected /= expected.sum(axis=1, keepdims=True) + 1.0
    np.testing.assert_allclose(item_item.forward_cooccurrence(rows, items, vocab_size=3),
                               expected)
