"""Helpers for variable-length id lists (a history, tags) held as `[rows, None]` SparseTensors."""
import tensorflow as tf


def row_counts(ids: tf.SparseTensor) -> tf.Tensor:
    """Number of ids in each row, `[rows]` int32."""
    rows = tf.cast(ids.dense_shape[0], tf.int32)
    return tf.math.bincount(tf.cast(ids.indices[:, 0], tf.int32), minlength=rows, maxlength=rows)


def ranks(ids: tf.SparseTensor) -> tf.Tensor:
    """Each id's rank in its row (0 = first; for a history, the most recent), `[ids]`
    int64. Gaps left by removed ids do not count."""
    starts = tf.cumsum(tf.cast(row_counts(ids), tf.int64), exclusive=True)
    return tf.range(tf.shape(ids.indices, out_type=tf.int64)[0]) - tf.gather(
        starts, ids.indices[:, 0])


def multi_hot(ids: tf.SparseTensor, depth) -> tf.Tensor:
    """`[rows, depth]` float32, 1 where a row holds an id (ids must be < depth)."""
    positions = tf.stack([ids.indices[:, 0], tf.cast(ids.values, tf.int64)], axis=1)
    shape = tf.stack([ids.dense_shape[0], tf.cast(depth, tf.int64)])
    return tf.minimum(tf.scatter_nd(positions, tf.ones_like(ids.values, tf.float32), shape), 1.0)
