"""An exponential moving average of the model's weights over training steps.

With a few steps per epoch and a noisy objective, the weights of any one step
score unevenly on the validation carve (ML-100K temporal: +-0.01 NDCG@10 from
one score to the next); their average over the last epochs scores higher and
steadier (Polyak averaging). Model selection scores and keeps the averaged
weights, and the refit ends on them.
"""
import contextlib
from typing import List, Optional

import tensorflow as tf
import tf_keras

# Updates per horizon, at most: an update is a pass over every weight (at ML-25M's
# catalogue, 12M floats), so a long horizon updates every few steps instead.
UPDATES_PER_HORIZON = 50


class WeightAverage(tf_keras.callbacks.Callback):
    """Keeps `average = m * average + (1 - m) * weights` over training steps, m = 1 -
    1 / horizon_steps: a step's weight falls to 1/e after `horizon_steps` steps.

    Above UPDATES_PER_HORIZON steps of horizon, it updates every
    `horizon_steps // UPDATES_PER_HORIZON` steps with that many steps' momentum.
    The average starts at the weights after the first step (a model builds its
    weights on its first batch) and carries over `fit` calls; `swapped()` puts it
    in the model for a while, `apply()` for good.
    """

    def __init__(self, horizon_steps: float):
        super().__init__()
        self._momentum = tf.Variable(0.0, trainable=False)
        self.every = 1
        self.set_horizon(horizon_steps)
        self._averages: Optional[List[tf.Variable]] = None
        self._update = None
        self._steps = 0

    def set_horizon(self, horizon_steps: float) -> None:
        """Applies from the next update on."""
        if horizon_steps < 1:
            raise ValueError(f"horizon_steps must be at least 1, got {horizon_steps}")
        self.every = max(1, int(horizon_steps // UPDATES_PER_HORIZON))
        self._momentum.assign((1.0 - 1.0 / horizon_steps) ** self.every)

    def _start(self):
        variables = self.model.trainable_variables
        self._averages = [tf.Variable(tf.convert_to_tensor(v), trainable=False)
                          for v in variables]
        momentum = self._momentum

        @tf.function(autograph=False)
        def update():
            for average, variable in zip(self._averages, variables):
                average.assign(momentum * average
                               + (1.0 - momentum) * tf.convert_to_tensor(variable))

        self._update = update

    def on_train_batch_end(self, batch, logs=None):
        if self._averages is None:
            self._start()
            return
        self._steps += 1
        if self._steps % self.every == 0:
            self._update()

    @contextlib.contextmanager
    def swapped(self):
        """The averaged weights in the model inside the block, its own ones after."""
        if self._averages is None:
            yield
            return
        own = [tf.convert_to_tensor(v) for v in self.model.trainable_variables]
        self.apply()
        try:
            yield
        finally:
            for variable, value in zip(self.model.trainable_variables, own):
                variable.assign(value)

    def apply(self) -> None:
        """Puts the averaged weights in the model (nothing before the first step)."""
        if self._averages is None:
            return
        for variable, average in zip(self.model.trainable_variables, self._averages):
            variable.assign(average)
