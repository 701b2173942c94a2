"""Adam whose sparse updates touch only the rows in the gradient ("lazy" Adam).

tf_keras's Adam decays the moments of every row of a table on every step, even
for a gradient on a few rows (`tf.IndexedSlices`): at ML-25M's 59,047 items and
200 dimensions, three passes over 12M floats per table per step, 43 of a sampled
softmax step's 107 ms. `RowAdam` updates the rows in the gradient as Adam
would and leaves the others, moments included, as they are (the LazyAdam of
TensorFlow Addons, which is no longer maintained). A row touched on every step
follows Adam exactly; dense gradients take Adam's own path.
"""
import tensorflow as tf
import tf_keras


class RowAdam(tf_keras.optimizers.Adam):
    """tf_keras Adam with row-wise updates for `tf.IndexedSlices` gradients."""

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            return super().update_step(gradient, variable)
        # The base class has summed duplicate indices (_deduplicate_sparse_grad).
        lr = tf.cast(self.learning_rate, variable.dtype)
        local_step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, variable.dtype), local_step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, variable.dtype), local_step)
        var_key = self._var_key(variable)
        m = self._momentums[self._index_dict[var_key]]
        v = self._velocities[self._index_dict[var_key]]
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        epsilon_hat = (self.epsilon * tf.sqrt(1 - beta_2_power) if self.adaptive_epsilon
                       else self.epsilon)
        rows = gradient.indices
        m_rows = (self.beta_1 * tf.gather(m, rows)
                  + (1 - self.beta_1) * gradient.values)
        v_rows = (self.beta_2 * tf.gather(v, rows)
                  + (1 - self.beta_2) * tf.square(gradient.values))
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(tf.IndexedSlices(m_rows * alpha / (tf.sqrt(v_rows) + epsilon_hat),
                                              rows))
