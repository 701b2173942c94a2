"""CompiledAdam: tf_keras Adam's updates, the dense ones compiled by XLA."""
import numpy as np
import tensorflow as tf
import tf_keras

from models.compiled_adam import CompiledAdam


def _train(optimizer, steps: int = 5):
    """Applies the same gradients to a table (dense) and a bias (sparse) for `steps` steps."""
    rng = np.random.default_rng(0)
    table = tf.Variable(rng.normal(size=(6, 3)).astype(np.float32))
    bias = tf.Variable(rng.normal(size=(6, 1)).astype(np.float32))

    @tf.function
    def step(dense, rows, values):
        optimizer.apply_gradients([(dense, table), (tf.IndexedSlices(values, rows), bias)])

    for _ in range(steps):
        rows = rng.choice(6, size=int(rng.integers(1, 6)), replace=False)
        step(tf.constant(rng.normal(size=(6, 3)).astype(np.float32)),
             tf.constant(rows), tf.constant(rng.normal(size=(len(rows), 1)).astype(np.float32)))
    return table.numpy(), bias.numpy()


def test_updates_match_adams_for_dense_and_sparse_gradients():
    compiled_table, compiled_bias = _train(CompiledAdam(0.1))
    table, bias = _train(tf_keras.optimizers.Adam(0.1))
    start_table, _ = _train(CompiledAdam(0.1), steps=0)
    assert not np.allclose(compiled_table, start_table)
    np.testing.assert_allclose(compiled_table, table, rtol=1e-5, atol=1e-6)
    # Sparse gradients of changing sizes take Adam's own path.
    np.testing.assert_array_equal(compiled_bias, bias)
