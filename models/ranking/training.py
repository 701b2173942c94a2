"""Input pipelines and the training loop of the ranking model.

As for retrieval, the Trainer reads raw examples and applies the Transform
graph itself (the TFT layer), so training, evaluation and serving share it.
"""
import os
import sys
from typing import List, Optional, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402
from absl import logging  # noqa: E402

from models import features, towers  # noqa: E402
from models.ranking.hparams import Hyperparameters  # noqa: E402
from models.ranking.model import (  # noqa: E402
    ITEM_NUMERIC, RatingStatistics, build_model)
from models.retrieval.training import read_raw_examples  # noqa: E402


def item_numeric_features(raw_feature_spec) -> List[str]:
    return sorted(name for name, spec in raw_feature_spec.items()
                  if features.is_item_numeric_feature(name) and spec.dtype != tf.string)


def _user_fields(raw_feature_spec) -> List[str]:
    return [name for name in raw_feature_spec if features.is_user_feature(name)]


def usable_blocks(block_names: Sequence[str], raw_feature_spec) -> List[str]:
    """The blocks whose features this dataset has (e.g. no item_tags without tags)."""
    has = {
        "history": features.HISTORY_ITEM_IDS in raw_feature_spec,
        "history_text": features.HISTORY_ITEM_IDS in raw_feature_spec,
        "item_tags": features.ITEM_TAGS in raw_feature_spec,
        "item_text": features.ITEM_TEXT in raw_feature_spec,
        "user_features": bool(_user_fields(raw_feature_spec)),
        ITEM_NUMERIC: bool(item_numeric_features(raw_feature_spec)),
    }
    usable = [name for name in block_names if has.get(name, True)]
    if len(usable) < len(block_names):
        logging.warning("ranking: the data has no features for block(s) %s; left out",
                        [name for name in block_names if name not in usable])
    return usable


def raw_features_for(block_names: Sequence[str], raw_feature_spec) -> List[str]:
    """The raw (pre-Transform) features these blocks read."""
    names = towers.raw_features_for([n for n in block_names if n != ITEM_NUMERIC],
                                    raw_feature_spec)
    if ITEM_NUMERIC in block_names:
        names += item_numeric_features(raw_feature_spec)
    return names


def item_raw_features(hparams: Hyperparameters, raw_feature_spec) -> List[str]:
    """The raw features of the item blocks: what the catalogue must hold."""
    return raw_features_for(usable_blocks(hparams.item_blocks, raw_feature_spec),
                            raw_feature_spec)


def check_labels(hparams: Hyperparameters, raw_feature_spec) -> None:
    if hparams.task == "rating" and features.RATING not in raw_feature_spec:
        raise ValueError("ranking task 'rating' needs a rating in the data; "
                         "this dataset has none: use task 'implicit'")


def ranking_dataset(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput,
                    names: Sequence[str], batch_size: int,
                    item_text_table: Optional[np.ndarray] = None,
                    shuffle_seed=None) -> tf.data.Dataset:
    """Transformed batches of the raw features `names` (plus the item's text embedding)."""
    raw_spec = tft_output.raw_feature_spec()
    raw = read_raw_examples(file_patterns, {n: raw_spec[n] for n in names}, batch_size,
                            shuffle_seed)
    dataset = raw.map(tft_output.transform_features_layer(), num_parallel_calls=tf.data.AUTOTUNE)
    if item_text_table is not None:
        table = tf.constant(item_text_table)
        dataset = dataset.map(lambda batch: {
            **batch, features.ITEM_TEXT_EMBEDDING: tf.gather(table, batch[features.ITEM_ID])})
    return dataset


def rating_statistics(file_patterns: Sequence[str]) -> RatingStatistics:
    ratings = read_raw_examples(
        file_patterns, {features.RATING: tf.io.FixedLenFeature([1], tf.float32)}, 1 << 16)
    values = np.concatenate([batch[features.RATING].numpy().ravel() for batch in ratings])
    return RatingStatistics(float(values.mean()), float(values.min()), float(values.max()))


def train(train_patterns: Sequence[str], eval_patterns: Sequence[str],
          tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
          item_text_table: Optional[np.ndarray] = None, log_dir: Optional[str] = None):
    """Builds and fits the model; returns (model, keras History)."""
    raw_spec = tft_output.raw_feature_spec()
    check_labels(hparams, raw_spec)
    tf_keras.utils.set_random_seed(hparams.seed)
    blocks = usable_blocks(hparams.blocks, raw_spec)
    names = list(dict.fromkeys([features.ITEM_ID, *raw_features_for(blocks, raw_spec)]))
    if hparams.task == "rating":
        names.append(features.RATING)

    train_data = ranking_dataset(train_patterns, tft_output, names, hparams.batch_size,
                                 item_text_table, shuffle_seed=hparams.seed).prefetch(2)
    eval_data = ranking_dataset(eval_patterns, tft_output, names, hparams.batch_size,
                                item_text_table).cache()
    context = towers.context_from_transform(tft_output, hparams.embedding_dim, item_text_table,
                                            id_dropout=hparams.id_dropout)
    model = build_model(
        hparams, blocks, context, item_numeric_features(raw_spec),
        rating_statistics(train_patterns) if hparams.task == "rating" else None)
    model.compile(optimizer=tf_keras.optimizers.Adam(hparams.learning_rate))
    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=log_dir)] if log_dir else []
    history = model.fit(train_data, validation_data=eval_data, epochs=hparams.epochs,
                        callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)
    return model, history
