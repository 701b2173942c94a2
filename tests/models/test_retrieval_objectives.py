"""What the retrieval model sees and predicts: the objectives, the validation carve, the loss."""
import numpy as np
import pytest
import tensorflow as tf

from models import id_lists
from models.retrieval import objectives
from models.retrieval.task import CatalogueSoftmax

# Three users' histories, most recent first (item indices).
HISTORIES = [[5, 3, 9, 1, 7, 2, 8, 4, 6, 0], [2, 4], [7]]


def _history(rows=HISTORIES):
    return tf.ragged.constant(rows, tf.int64).to_sparse()


def _rows(ids: tf.SparseTensor):
    """Each row's ids, in order."""
    rows = [[] for _ in range(int(ids.dense_shape[0]))]
    for (row, _), value in zip(ids.indices.numpy(), ids.values.numpy()):
        rows[row].append(int(value))
    return rows


@pytest.mark.parametrize("objective", [objectives.COMPLETE, objectives.FUTURE])
def test_targets_are_never_inputs(objective):
    for seed in range(20):
        inputs, targets = objectives.split_history(_history(), objective, 0.5, 0.1, 0.6,
                                                   seed=seed)
        for history, seen, predicted in zip(HISTORIES, _rows(inputs), _rows(targets)):
            assert not set(seen) & set(predicted)
            assert sorted(seen + predicted) == sorted(history)


def test_denoise_reconstructs_the_whole_history_from_a_part_of_it():
    inputs, targets = objectives.split_history(_history(), objectives.DENOISE, 0.5, 0, 0, seed=1)
    assert _rows(targets) == HISTORIES
    for history, seen in zip(HISTORIES, _rows(inputs)):
        assert set(seen) <= set(history)


def test_future_hides_the_most_recent_items():
    for seed in range(20):
        inputs, targets = objectives.split_history(_history(), objectives.FUTURE, 0, 0.2, 0.5,
                                                   seed=seed)
        long_history_targets = _rows(targets)[0]
        assert 2 <= len(long_history_targets) <= 5
        assert long_history_targets == HISTORIES[0][:len(long_history_targets)]
        assert _rows(inputs)[0] == HISTORIES[0][len(long_history_targets):]


def test_auto_objective_follows_the_split():
    assert objectives.resolve("auto", order_matters=True) == objectives.FUTURE
    assert objectives.resolve("auto", order_matters=False) == objectives.DENOISE
    with pytest.raises(ValueError, match="objective"):
        objectives.resolve("next-basket", order_matters=True)


def test_carve_holds_out_a_fifth_of_each_history_never_all_of_it():
    kept, held = objectives.carve(_history(), tf.constant([11, 12, 13], tf.int64), 0.2,
                                  order_matters=False, seed=0)
    assert [len(r) for r in _rows(held)] == [2, 0, 0]
    assert [len(r) for r in _rows(kept)] == [8, 2, 1]
    temporal_kept, temporal_held = objectives.carve(
        _history(), tf.constant([11, 12, 13], tf.int64), 0.2, order_matters=True, seed=0)
    assert _rows(temporal_held)[0] == HISTORIES[0][:2]  # the most recent
    assert _rows(temporal_kept)[0] == HISTORIES[0][2:]


def test_random_carve_depends_on_the_user_not_on_the_batch():
    """The same user keeps the same validation items whatever batch it comes in."""
    many = [list(np.random.default_rng(u).permutation(50)[:20]) for u in range(8)]
    keys = tf.range(100, 108, dtype=tf.int64)
    _, held_together = objectives.carve(_history(many), keys, 0.25, False, seed=3)
    _, held_reversed = objectives.carve(_history(many[::-1]), keys[::-1], 0.25, False, seed=3)
    assert _rows(held_together) == _rows(held_reversed)[::-1]
    _, other_seed = objectives.carve(_history(many), keys, 0.25, False, seed=4)
    assert _rows(other_seed) != _rows(held_together)
    assert all(len(r) == 5 for r in _rows(held_together))


def test_catalogue_softmax_gradient_is_the_multinomial_likelihoods():
    """Keras' cross-entropy is right for labels summing to one only; the task's
    gradient must be that of -sum(y * log_softmax(scores)) with many positives."""
    rng = np.random.default_rng(0)
    query = tf.Variable(rng.normal(size=(3, 4)).astype(np.float32))
    items = tf.constant(rng.normal(size=(6, 4)).astype(np.float32))
    labels = tf.constant([[1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 1, 1]],
                         tf.float32)
    mask = tf.constant([[True] * 6, [True, False, True, True, True, True], [True] * 6])
    with tf.GradientTape() as tape:
        loss = CatalogueSoftmax()(query, items, labels, score_mask=mask)
    with tf.GradientTape() as expected_tape:
        scores = tf.where(mask, query @ tf.transpose(items), -1e9)
        expected = -tf.reduce_mean(tf.reduce_sum(labels * tf.nn.log_softmax(scores), axis=1))
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, query).numpy(),
                               expected_tape.gradient(expected, query).numpy(), atol=1e-5)


def test_sampled_candidates_are_corrected_by_their_log_sampling_probability():
    """The sampled softmax's log-Q correction: a candidate drawn often loses log(p) of
    its score, so sampling does not favour popular items as negatives."""
    rng = np.random.default_rng(1)
    query = tf.constant(rng.normal(size=(2, 4)).astype(np.float32))
    items = tf.constant(rng.normal(size=(5, 4)).astype(np.float32))
    labels = tf.constant([[1, 0, 0, 1, 0], [0, 0, 1, 0, 0]], tf.float32)
    probability = tf.constant([0.9, 0.5, 0.1, 0.02, 1.0])
    loss = CatalogueSoftmax()(query, items, labels, candidate_sampling_probability=probability)
    scores = query @ tf.transpose(items) - tf.math.log(probability)
    expected = -tf.reduce_mean(tf.reduce_sum(labels * tf.nn.log_softmax(scores), axis=1))
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    uncorrected = CatalogueSoftmax()(query, items, labels)
    assert abs(float(uncorrected) - float(loss)) > 0.1


def test_multi_hot_marks_each_rows_ids():
    hot = id_lists.multi_hot(_history([[1, 3], [], [0, 0]]), 4).numpy()
    np.testing.assert_array_equal(hot, [[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
