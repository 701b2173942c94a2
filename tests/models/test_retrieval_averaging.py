"""The retrieval trainer's moving average of the weights (models/retrieval/averaging.py)."""
import numpy as np
import tensorflow as tf
import tf_keras

from models.retrieval.averaging import WeightAverage


def _climbing_model():
    """One weight that SGD moves up by exactly 0.1 at every step (the loss is -w)."""
    inputs = tf_keras.Input(shape=(1,))
    outputs = tf_keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")(inputs)
    model = tf_keras.Model(inputs, outputs)
    model.compile(optimizer=tf_keras.optimizers.SGD(0.1), loss=lambda y, p: -p)
    return model


def _fit(model, steps, average):
    x = np.ones([steps, 1], np.float32)
    model.fit(x, x, batch_size=1, epochs=1, callbacks=[average], verbose=0)


def _weight(model):
    return float(model.get_weights()[0][0, 0])


def test_the_average_trails_a_steady_climb_by_its_horizon():
    model, average = _climbing_model(), WeightAverage(horizon_steps=10)
    _fit(model, 200, average)
    np.testing.assert_allclose(_weight(model), 20.0, rtol=1e-5)
    with average.swapped():
        # Behind a climb of 0.1 a step by 0.1 * m / (1 - m), m = 1 - 1/10.
        np.testing.assert_allclose(_weight(model), 20.0 - 0.9, atol=1e-3)
    np.testing.assert_allclose(_weight(model), 20.0, rtol=1e-5)
    average.apply()
    np.testing.assert_allclose(_weight(model), 20.0 - 0.9, atol=1e-3)


def test_the_average_starts_from_the_first_step_and_carries_over_fits():
    model, average = _climbing_model(), WeightAverage(horizon_steps=1e9)
    _fit(model, 1, average)
    _fit(model, 5, average)
    np.testing.assert_allclose(_weight(model), 0.6, rtol=1e-5)
    with average.swapped():
        # A horizon far longer than the run holds the weights after the first step.
        np.testing.assert_allclose(_weight(model), 0.1, atol=1e-6)


def test_a_new_horizon_applies_from_the_next_step():
    model, average = _climbing_model(), WeightAverage(horizon_steps=1e9)
    _fit(model, 3, average)
    average.set_horizon(1)
    _fit(model, 2, average)
    with average.swapped():
        np.testing.assert_allclose(_weight(model), 0.5, atol=1e-6)


def test_a_long_horizon_updates_every_few_steps_and_trails_alike():
    model, average = _climbing_model(), WeightAverage(horizon_steps=200)
    assert average.every == 200 // 50
    _fit(model, 2000, average)
    np.testing.assert_allclose(_weight(model), 200.0, rtol=1e-4)
    with average.swapped():
        # Every step: 0.1 * 199 behind; every 4 steps with 4 steps' momentum: 19.75.
        np.testing.assert_allclose(_weight(model), 200.0 - 19.9, atol=0.3)
