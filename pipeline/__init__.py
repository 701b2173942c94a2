"""The pipeline: config, builder, runners and the `unirec` command line."""
# Every entry point is under this package: ask TensorFlow for Keras 2 before anything imports it.
import models  # noqa: F401
