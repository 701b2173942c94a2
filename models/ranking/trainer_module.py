"""The Trainer module file of the ranking model (TFX generic trainer).

`base_model`, when given, is the pretrained text encoder (components/text_encoder),
needed by the item_text and history_text blocks.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow_transform as tft  # noqa: E402

from models import catalogue as catalogue_lib  # noqa: E402
from models import features  # noqa: E402
from models.ranking import export, training  # noqa: E402
from models.ranking.hparams import Hyperparameters  # noqa: E402
from models.retrieval.trainer_module import load_text_encoder, split_files  # noqa: E402


def run_fn(fn_args):
    hparams = Hyperparameters(**fn_args.custom_config["ranking"])
    if hparams.uses_text and not fn_args.base_model:
        raise ValueError(f"ranking blocks {hparams.blocks} need the text encoder "
                         "as the Trainer's base_model")
    encoder = load_text_encoder(fn_args.base_model) if hparams.uses_text else None
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    raw_spec = tft_output.raw_feature_spec()
    catalogue = catalogue_lib.read_catalogue(
        split_files(fn_args.train_files, features.CANDIDATES_SPLIT), raw_spec,
        training.item_raw_features(hparams, raw_spec), encoder, hparams.text_batch_size)
    text_table = catalogue_lib.item_text_table(catalogue, tft_output) if encoder else None
    model, _ = training.train(fn_args.train_files, fn_args.eval_files, tft_output, hparams,
                              text_table, log_dir=fn_args.model_run_dir)
    export.export_serving_model(
        model, tft_output, catalogue, fn_args.serving_model_dir,
        eval_negatives=hparams.eval_negatives if hparams.task == "implicit" else 0)
