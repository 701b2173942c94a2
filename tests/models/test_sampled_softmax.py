"""A sampled-softmax step reads only its rows: the item tower, the id penalty and Adam."""
import numpy as np
import tensorflow as tf
import tf_keras

from models import blocks, features, layers, towers
from models.retrieval import model as model_lib
from models.retrieval.task import CatalogueSoftmax
from models.row_adam import RowAdam

NUM_ITEMS = 40
NUM_TAGS = 6
L2 = 0.01


def _items():
    """Every vocabulary item's id and 1-2 tags, then the OOV row (no tags)."""
    indices, values = [], []
    for item in range(NUM_ITEMS):
        for k in range(1 + item % 2):
            indices.append([item, k])
            values.append((item + k) % NUM_TAGS)
    return {features.ITEM_ID: tf.range(NUM_ITEMS + 1, dtype=tf.int64),
            features.ITEM_TAGS: tf.SparseTensor(indices, tf.constant(values, tf.int64),
                                                [NUM_ITEMS + 1, 2])}


def _model(full_softmax_max_items=10):
    tf_keras.utils.set_random_seed(0)
    context = blocks.BlockContext(
        embedding_dim=8, vocab_sizes={features.ITEM_ID: NUM_ITEMS + 1,
                                      features.ITEM_TAGS: NUM_TAGS + 1},
        user_categorical=[], user_numeric=[], item_numeric=[], l2=L2, sequence_length=4,
        sequence_dropout=0.0)
    query_tower, item_tower = towers.build_towers(
        ["history_bag", "history_sequence", "item_id", "item_tags", "item_bias"], context)
    return model_lib.RetrievalModel(query_tower, item_tower, _items(), objective="future",
                                    full_softmax_max_items=full_softmax_max_items,
                                    sampled_negatives=5)


def _ids(rows):
    indices = [[r, k] for r, row in enumerate(rows) for k in range(len(row))]
    return tf.SparseTensor(indices, tf.constant([i for row in rows for i in row], tf.int64),
                           [len(rows), max(map(len, rows))])


VISIBLE = _ids([[3, 7, 11], [12, 3, 30]])
TARGETS = _ids([[20], [21, 22]])
DRAWN = tf.constant([30, 31, 20, 32, 33], tf.int64)
CANDIDATES = [20, 21, 22, 30, 31, 32, 33]


def _id_block(model):
    return next(block for block in model.item_tower.vector_blocks
                if isinstance(block, layers.IdEmbedding))


def test_the_sampled_loss_equals_the_loss_over_every_items_vectors():
    model = _model()
    assert model.sampled
    inputs = {features.HISTORY_ITEM_IDS: VISIBLE}
    loss = model.sampled_loss(inputs, TARGETS, VISIBLE, DRAWN)

    vectors, bias = model.item_vectors(training=True)
    query = model.query(inputs, vectors, training=True)
    column = {item: c for c, item in enumerate(CANDIDATES)}
    labels = np.zeros([2, len(CANDIDATES)], np.float32)
    labels[0, column[20]] = labels[1, column[21]] = labels[1, column[22]] = 1.0
    mask = np.ones_like(labels, bool)
    mask[1, column[30]] = False  # user 1 sees item 30: it leaves that user's softmax
    expected = CatalogueSoftmax()(
        query, tf.gather(vectors, CANDIDATES), labels, candidate_bias=tf.gather(bias, CANDIDATES),
        score_mask=mask, candidate_sampling_probability=tf.fill([len(CANDIDATES)], 5 / NUM_ITEMS))
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)


def test_a_sampled_step_touches_only_the_rows_it_read():
    model = _model()
    model.sampled_loss({features.HISTORY_ITEM_IDS: VISIBLE}, TARGETS, VISIBLE, DRAWN)  # builds
    with tf.GradientTape() as tape:
        loss = model.sampled_loss({features.HISTORY_ITEM_IDS: VISIBLE}, TARGETS, VISIBLE, DRAWN)
        total = loss + tf.add_n(model.losses)
    table = _id_block(model).embedding.embeddings
    gradient = tape.gradient(total, table)
    read = sorted(set(CANDIDATES) | {3, 7, 11, 12})
    assert isinstance(gradient, tf.IndexedSlices)
    assert sorted(set(gradient.indices.numpy().tolist())) == read
    # The id table's penalty covers exactly the rows the step read.
    np.testing.assert_allclose(_id_block(model).losses[0].numpy(),
                               L2 * np.square(table.numpy()[read]).sum(), rtol=1e-5)

    before = table.numpy()
    RowAdam(0.1).apply_gradients([(gradient, table)])
    moved = np.flatnonzero(np.any(table.numpy() != before, axis=1)).tolist()
    assert moved == read


def test_a_full_softmax_model_keeps_the_whole_table_penalty():
    model = _model(full_softmax_max_items=NUM_ITEMS)
    assert not model.sampled
    model.item_vectors()
    block = _id_block(model)
    np.testing.assert_allclose(
        block.losses[0].numpy(), L2 * np.square(block.embedding.embeddings.numpy()).sum(),
        rtol=1e-5)


def test_the_rows_penalty_over_every_row_is_the_whole_table_penalty():
    whole = layers.IdEmbedding(features.ITEM_ID, 10, 4, l2=L2)
    rows = layers.IdEmbedding(features.ITEM_ID, 10, 4, l2=L2)
    rows.penalize_looked_up_rows()
    every_id = {features.ITEM_ID: tf.constant([9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 3], tf.int64)}
    whole(every_id), rows(every_id)
    rows.embedding.embeddings.assign(whole.embedding.embeddings)
    whole(every_id), rows(every_id)
    np.testing.assert_allclose(rows.losses[0].numpy(), whole.losses[0].numpy(), rtol=1e-6)


def test_row_adam_updates_a_touched_row_as_adam_and_leaves_the_others():
    start = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    row_wise, dense = tf.Variable(start), tf.Variable(start)
    row_adam, adam = RowAdam(0.1), tf_keras.optimizers.Adam(0.1)
    gradient = tf.IndexedSlices(tf.constant([[1.0, -2.0, 0.5], [0.3, 0.3, -1.0]]),
                                tf.constant([0, 2]), dense_shape=[4, 3])
    for _ in range(2):
        row_adam.apply_gradients([(gradient, row_wise)])
        adam.apply_gradients([(tf.convert_to_tensor(gradient), dense)])
    np.testing.assert_allclose(row_wise.numpy(), dense.numpy(), rtol=1e-6)

    # A step on row 1 alone: Adam's momentum still moves rows 0 and 2, RowAdam does not.
    other = tf.IndexedSlices(tf.constant([[0.5, 0.5, 0.5]]), tf.constant([1]), dense_shape=[4, 3])
    before = row_wise.numpy()
    row_adam.apply_gradients([(other, row_wise)])
    adam.apply_gradients([(tf.convert_to_tensor(other), dense)])
    np.testing.assert_array_equal(row_wise.numpy()[[0, 2, 3]], before[[0, 2, 3]])
    assert np.abs(dense.numpy()[[0, 2]] - before[[0, 2]]).min() > 1e-3
    np.testing.assert_allclose(row_wise.numpy()[1], dense.numpy()[1], rtol=1e-6)
