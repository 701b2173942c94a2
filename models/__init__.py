"""The models: feature blocks, the retrieval and ranking models, their trainer, baselines.

TensorFlow Recommenders needs Keras 2 (`tf_keras`) behind `tf.keras`, and
TensorFlow picks the Keras it routes `tf.keras` to when it is first used. This
is the one place that asks for Keras 2; every entry point (the `pipeline`
package, the tests) imports this package before TensorFlow. The keras-hub text
encoder uses Keras 3 directly and is unaffected.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
