"""The Trainer module file of the retrieval model (TFX generic trainer).

`base_model`, when given, is the pretrained text encoder (components/text_encoder).
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from models import catalogue as catalogue_lib  # noqa: E402
from models import features, registry  # noqa: E402
from models.retrieval import export, training  # noqa: E402
from models.retrieval.hparams import Hyperparameters  # noqa: E402


def split_files(train_files, split_name):
    """The file patterns of another split of the Examples artifact train_files belong to."""
    return [os.path.join(os.path.dirname(os.path.dirname(pattern)), f"Split-{split_name}", "*")
            for pattern in train_files]


def load_text_encoder(path):
    if not path:
        return None
    import tensorflow_text  # noqa: F401  registers the encoder's tokenizer ops

    return tf.saved_model.load(path)


def run_fn(fn_args):
    hparams = Hyperparameters(**fn_args.custom_config["retrieval"])
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    uses_text = registry.get(hparams.family).uses_text
    if uses_text and not fn_args.base_model:
        raise ValueError(f"family {hparams.family!r} needs the text encoder as the Trainer's base_model")
    encoder = load_text_encoder(fn_args.base_model) if uses_text else None

    raw_spec = tft_output.raw_feature_spec()
    catalogue = catalogue_lib.read_catalogue(
        split_files(fn_args.train_files, features.CANDIDATES_SPLIT), raw_spec,
        training.candidate_raw_features(hparams, raw_spec), encoder, hparams.text_batch_size)
    text_table = catalogue_lib.item_text_table(catalogue, tft_output) if encoder else None
    model, history = training.train(fn_args.train_files, fn_args.eval_files, tft_output, hparams,
                                    text_table, log_dir=fn_args.model_run_dir)
    training.write_history(history, os.path.join(fn_args.model_run_dir, "history.json"))
    export.export_serving_model(model, tft_output, hparams, catalogue,
                                fn_args.serving_model_dir, encoder)
