"""Adam that serves a moving average of the weights, warmed up for short runs.

tf_keras's `use_ema` averages with a fixed momentum from the initial weights, so
a run of fewer steps than the average spans ends near where it started. Here
the momentum at step t is min(momentum, (1 + t) / (10 + t)), as in
tf.train.ExponentialMovingAverage with num_updates: the average spans about the
last tenth of a short run and the last 1 / (1 - momentum) steps of a long one.
"""
import tensorflow as tf
import tf_keras


class AveragedAdam(tf_keras.optimizers.Adam):
    """Adam whose moving average of the weights replaces them when fit ends."""

    def __init__(self, learning_rate: float, momentum: float, **kwargs):
        super().__init__(learning_rate, use_ema=True, ema_momentum=momentum, **kwargs)

    def warmed_up_momentum(self) -> tf.Tensor:
        step = tf.cast(self.iterations, tf.float32)
        return tf.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step))

    def _update_model_variables_moving_average(self, var_list):
        # tf_keras's own update, with the warmed-up momentum (no distribution strategy).
        momentum = self.warmed_up_momentum()
        for var in var_list:
            average = self._model_variables_moving_average[self._index_dict[self._var_key(var)]]
            average.assign(momentum * average + (1.0 - momentum) * var)
