"""The ranking optimizer's moving average of the weights (models/ranking/averaging.py)."""
import numpy as np
import tensorflow as tf

from models.ranking.averaging import AveragedAdam


def _climb(optimizer, steps):
    """A weight that Adam moves up by about the learning rate at every step."""
    weight = tf.Variable([0.0])
    for _ in range(steps):
        optimizer.apply_gradients([(tf.constant([-1.0]), weight)])
    last = float(weight.numpy()[0])
    optimizer.finalize_variable_values([weight])
    return last, float(weight.numpy()[0])


def test_a_short_run_averages_its_last_steps_not_its_initial_weights():
    last, averaged = _climb(AveragedAdam(0.1, momentum=0.995), steps=20)
    np.testing.assert_allclose(last, 2.0, atol=0.01)
    # tf_keras's fixed 0.995 from the initial 0 gives 0.10.
    assert 1.5 < averaged < last


def test_a_long_run_averages_with_the_momentum():
    optimizer = AveragedAdam(0.01, momentum=0.9)
    last, averaged = _climb(optimizer, steps=200)
    # Behind a steady climb of 0.01 a step by 0.01 * 0.9 / (1 - 0.9).
    np.testing.assert_allclose(last - averaged, 0.09, atol=0.005)
    assert float(optimizer.warmed_up_momentum()) == np.float32(0.9)
