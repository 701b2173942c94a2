"""The Trainer module file of the retrieval model (TFX generic trainer)."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow_transform as tft  # noqa: E402

from models import features  # noqa: E402
from models.retrieval import export, training  # noqa: E402
from models.retrieval.hparams import Hyperparameters  # noqa: E402


def split_files(train_files, split_name):
    """The file patterns of another split of the Examples artifact train_files belong to."""
    return [os.path.join(os.path.dirname(os.path.dirname(pattern)), f"Split-{split_name}", "*")
            for pattern in train_files]


def run_fn(fn_args):
    hparams = Hyperparameters(**fn_args.custom_config["retrieval"])
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    model, _ = training.train(fn_args.train_files, fn_args.eval_files, tft_output, hparams,
                              log_dir=fn_args.model_run_dir)
    export.export_serving_model(
        model, tft_output, hparams,
        split_files(fn_args.train_files, features.CANDIDATES_SPLIT), fn_args.serving_model_dir)
