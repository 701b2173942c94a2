"""The pipeline: config, builder, runners and the `unirec` command line."""
import warnings

# google-cloud client libraries warn about Python 3.10 at every import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

# Every entry point is under this package: ask TensorFlow for Keras 2 before anything imports it.
import models  # noqa: E402,F401
