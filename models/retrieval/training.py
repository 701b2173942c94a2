"""Input pipelines and the training loop of the retrieval model.

The Trainer reads raw examples and applies the Transform graph itself (the
TFT layer), so the same graph runs in training, evaluation and serving. Item
text embeddings are computed once per distinct text and looked up by item id.
"""
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402

from models import features, registry, towers  # noqa: E402
from models.retrieval.hparams import Hyperparameters  # noqa: E402
from models.retrieval.model import SAMPLING_PROBABILITY, RetrievalModel  # noqa: E402


def read_raw_examples(file_patterns: Sequence[str], feature_spec: Dict[str, tf.io.FixedLenFeature],
                      batch_size: int, shuffle_seed=None) -> tf.data.Dataset:
    """Batches of parsed raw tf.Examples from gzipped TFRecord files."""
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no example files match {list(file_patterns)}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle_seed is not None:
        dataset = dataset.shuffle(200_000, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).map(
        lambda records: tf.io.parse_example(records, feature_spec),
        num_parallel_calls=tf.data.AUTOTUNE)


def query_raw_features(hparams: Hyperparameters, raw_feature_spec) -> List[str]:
    return towers.raw_features_for(registry.get(hparams.family).query_blocks, raw_feature_spec)


def candidate_raw_features(hparams: Hyperparameters, raw_feature_spec) -> List[str]:
    return towers.raw_features_for(registry.get(hparams.family).candidate_blocks, raw_feature_spec)


def item_sampling_probabilities(transformed: tf.data.Dataset, num_items: int) -> np.ndarray:
    """How often each item id is the positive in the training data."""
    counts = np.zeros(num_items, dtype=np.float64)
    for batch in transformed:
        counts += np.bincount(batch[features.ITEM_ID].numpy(), minlength=num_items)
    return (counts / max(counts.sum(), 1.0)).astype(np.float32)


def training_dataset(file_patterns, tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
                     item_text_table: Optional[np.ndarray] = None,
                     shuffle_seed=None) -> tf.data.Dataset:
    """Transformed batches holding what both towers read plus the item id."""
    raw_spec = tft_output.raw_feature_spec()
    names = list(dict.fromkeys([features.ITEM_ID, *query_raw_features(hparams, raw_spec),
                                *candidate_raw_features(hparams, raw_spec)]))
    tft_layer = tft_output.transform_features_layer()
    raw = read_raw_examples(file_patterns, {n: raw_spec[n] for n in names},
                            hparams.batch_size, shuffle_seed)
    dataset = raw.map(tft_layer, num_parallel_calls=tf.data.AUTOTUNE)
    if item_text_table is not None:
        table = tf.constant(item_text_table)

        def add_text_embedding(batch):
            return {**batch, features.ITEM_TEXT_EMBEDDING: tf.gather(table, batch[features.ITEM_ID])}

        dataset = dataset.map(add_text_embedding)
    return dataset


def with_sampling_probability(dataset: tf.data.Dataset, probabilities: np.ndarray):
    table = tf.constant(probabilities)
    return dataset.map(lambda batch: {
        **batch, SAMPLING_PROBABILITY: tf.gather(table, batch[features.ITEM_ID])})


def build_model(context: towers.TowerContext, hparams: Hyperparameters) -> RetrievalModel:
    family = registry.get(hparams.family)
    return RetrievalModel(
        towers.build_tower(family.query_blocks, context, "query_tower"),
        towers.build_tower(family.candidate_blocks, context, "candidate_tower"),
        temperature=hparams.temperature, logq_correction=hparams.logq_correction)


def write_history(history, path: str) -> None:
    """Per-epoch losses, for the benchmark's training curves."""
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({name: [float(v) for v in values] for name, values in history.history.items()}, f)


def train(train_patterns: Sequence[str], eval_patterns: Sequence[str],
          tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
          item_text_table: Optional[np.ndarray] = None, log_dir: Optional[str] = None):
    """Builds and fits the model; returns (model, keras History)."""
    tf_keras.utils.set_random_seed(hparams.seed)
    context = towers.context_from_transform(
        tft_output, hparams.embedding_dim, item_text_table,
        id_dropout=registry.get(hparams.family).id_dropout)
    train_data = training_dataset(train_patterns, tft_output, hparams, item_text_table,
                                  shuffle_seed=hparams.seed)
    probabilities = item_sampling_probabilities(
        train_data, context.vocab_sizes[features.ITEM_ID])
    train_data = with_sampling_probability(train_data, probabilities).prefetch(2)
    eval_data = with_sampling_probability(
        training_dataset(eval_patterns, tft_output, hparams, item_text_table),
        probabilities).cache()

    model = build_model(context, hparams)
    optimizer = {"adam": tf_keras.optimizers.Adam,
                 "adagrad": tf_keras.optimizers.Adagrad}[hparams.optimizer]
    model.compile(optimizer=optimizer(hparams.learning_rate))
    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=log_dir)] if log_dir else []
    history = model.fit(
        train_data, validation_data=eval_data, epochs=hparams.epochs,
        callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)
    return model, history
