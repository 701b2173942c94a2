"""The pipeline: config, builder, runners and the `unirec` command line."""
import models  # noqa: F401  asks TensorFlow for Keras 2 before anything imports it (models/__init__.py)
