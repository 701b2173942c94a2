"""Input pipelines and the training loop of the retrieval model.

The Trainer reads raw examples and applies the Transform graph itself (the
TFT layer), so the same graph runs in training, evaluation and serving.
"""
import os
import sys
from typing import Dict, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402

from models import features, towers  # noqa: E402
from models.retrieval.hparams import Hyperparameters  # noqa: E402
from models.retrieval.model import SAMPLING_PROBABILITY, RetrievalModel  # noqa: E402
from models.transform import preprocessing  # noqa: E402


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


def raw_spec_for(tft_output: tft.TFTransformOutput, names: Sequence[str]):
    spec = tft_output.raw_feature_spec()
    return {name: spec[name] for name in names}


def vocab_sizes(tft_output: tft.TFTransformOutput) -> Dict[str, int]:
    """Embedding table sizes of the id features, OOV bucket included."""
    return {
        name: tft_output.vocabulary_size_by_name(vocab) + preprocessing.NUM_OOV_BUCKETS
        for name, vocab in ((features.USER_ID, preprocessing.USER_ID_VOCAB),
                            (features.ITEM_ID, preprocessing.ITEM_ID_VOCAB))
    }


def item_sampling_probabilities(transformed: tf.data.Dataset, num_items: int) -> np.ndarray:
    """How often each item id is the positive in the training data."""
    counts = np.zeros(num_items, dtype=np.float64)
    for batch in transformed:
        counts += np.bincount(batch[features.ITEM_ID].numpy(), minlength=num_items)
    return (counts / max(counts.sum(), 1.0)).astype(np.float32)


def training_dataset(file_patterns, tft_output, hparams: Hyperparameters,
                     shuffle_seed=None) -> tf.data.Dataset:
    """Transformed batches holding what both towers read plus the item id."""
    names = towers.raw_features_for(
        [*hparams.query_features, *hparams.candidate_features])
    tft_layer = tft_output.transform_features_layer()
    raw = read_raw_examples(file_patterns, raw_spec_for(tft_output, names),
                            hparams.batch_size, shuffle_seed)
    return raw.map(tft_layer, num_parallel_calls=tf.data.AUTOTUNE)


def with_sampling_probability(dataset: tf.data.Dataset, probabilities: np.ndarray):
    table = tf.constant(probabilities)

    def add(batch):
        batch = dict(batch)
        batch[SAMPLING_PROBABILITY] = tf.gather(table, batch[features.ITEM_ID])
        return batch

    return dataset.map(add)


def build_model(tft_output: tft.TFTransformOutput, hparams: Hyperparameters) -> RetrievalModel:
    sizes = vocab_sizes(tft_output)
    return RetrievalModel(
        towers.build_tower(hparams.query_features, sizes, hparams.embedding_dim, "query_tower"),
        towers.build_tower(hparams.candidate_features, sizes, hparams.embedding_dim,
                           "candidate_tower"),
        temperature=hparams.temperature)


def train(train_patterns: Sequence[str], eval_patterns: Sequence[str],
          tft_output: tft.TFTransformOutput, hparams: Hyperparameters,
          log_dir: str = None):
    """Builds and fits the model; returns (model, keras History)."""
    tf_keras.utils.set_random_seed(hparams.seed)
    train_data = training_dataset(train_patterns, tft_output, hparams,
                                  shuffle_seed=hparams.seed)
    probabilities = item_sampling_probabilities(
        train_data, vocab_sizes(tft_output)[features.ITEM_ID])
    train_data = with_sampling_probability(train_data, probabilities).prefetch(2)
    eval_data = with_sampling_probability(
        training_dataset(eval_patterns, tft_output, hparams), probabilities).cache()

    model = build_model(tft_output, hparams)
    model.compile(optimizer=tf_keras.optimizers.Adagrad(hparams.learning_rate))
    callbacks = [tf_keras.callbacks.TensorBoard(log_dir=log_dir)] if log_dir else []
    history = model.fit(
        train_data, validation_data=eval_data, epochs=hparams.epochs,
        callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)
    return model, history
