"""ExampleGen's Beam stage: the interactions divided by user into shards, each
shard's train, eval and users rows built and written by one Beam worker.

All of a user's interactions fall in one shard, so a shard holds everything its
rows need: histories are per user, and the split was decided beforehand for the
whole dataset (examples.plan_split). The driver stages the catalogue once and
each shard's interactions beside the output; a worker holds one shard and the
catalogue, whatever the number of interactions. Shard s of n writes
`Split-<name>/data_tfrecord-<s>-of-<n>.gz` for train, eval and users.
"""
import dataclasses
import logging
import os
import pickle
from typing import Dict, Iterator, Tuple

import apache_beam as beam
import numpy as np
import pandas as pd
import tensorflow as tf

from components.example_gen import encoding, examples
from data_contract.contract import Dataset
from models import features

SHARDED_SPLITS = (features.TRAIN_SPLIT, features.EVAL_SPLIT, features.USERS_SPLIT)
INTERACTIONS_PER_SHARD = encoding.ROWS_PER_SHARD
_CATALOGUE_FILE = "catalogue.pkl"
_IS_EVAL = "is_eval"


def num_shards(num_interactions: int, num_users: int) -> int:
    """Enough shards for about INTERACTIONS_PER_SHARD interactions each at most, and
    no shard without a user."""
    return max(1, min(-(-num_interactions // INTERACTIONS_PER_SHARD), num_users))


def stage(plan: examples.SplitPlan, folder: str) -> int:
    """Writes the catalogue (the dataset without its interactions) and each shard's
    interactions with their split to `folder`; returns the number of shards. User u
    (in order of first appearance) goes to shard u mod that number."""
    dataset = plan.dataset
    tf.io.gfile.makedirs(folder)
    _write_pickle(os.path.join(folder, _CATALOGUE_FILE),
                  dataclasses.replace(dataset, interactions=dataset.interactions.iloc[:1]))
    user_codes, user_ids = pd.factorize(dataset.interactions[features.USER_ID])
    shards = num_shards(len(user_codes), len(user_ids))
    shard_of = user_codes % shards
    del user_codes
    by_shard = np.argsort(shard_of, kind="stable")  # each shard's rows stay in source order
    bounds = np.r_[0, np.cumsum(np.bincount(shard_of, minlength=shards))]
    del shard_of
    for shard in range(shards):
        positions = by_shard[bounds[shard]:bounds[shard + 1]]
        rows = dataset.interactions.iloc[positions].reset_index(drop=True)
        rows[_IS_EVAL] = plan.is_eval[positions]
        _write_pickle(_shard_path(folder, shard), rows)
    return shards


def load_catalogue(folder: str) -> Dataset:
    return _read_pickle(os.path.join(folder, _CATALOGUE_FILE))


def load_shard(folder: str, shard: int, catalogue: Dataset) -> Tuple[Dataset, np.ndarray]:
    """A staged shard as a dataset of its users' interactions, and its split."""
    rows = _read_pickle(_shard_path(folder, shard))
    is_eval = rows.pop(_IS_EVAL).to_numpy()
    return dataclasses.replace(catalogue, interactions=rows), is_eval


class WriteShard(beam.DoFn):
    """shard -> (split name, rows written) for each sharded split."""

    def __init__(self, staging: str, split_folders: Dict[str, str], shards: int,
                 history_length: int, max_history: int):
        self._staging = staging
        self._split_folders = split_folders
        self._shards = shards
        self._history_length = history_length
        self._max_history = max_history

    def setup(self):
        self._catalogue = load_catalogue(self._staging)  # once per worker, not per shard

    def process(self, shard: int) -> Iterator[Tuple[str, int]]:
        dataset, is_eval = load_shard(self._staging, shard, self._catalogue)
        rows = examples.interaction_rows(dataset, is_eval, self._history_length,
                                         self._max_history)
        for split_name in SHARDED_SPLITS:
            encoding.write_tfrecord_gz(rows[split_name], os.path.join(
                self._split_folders[split_name], encoding.shard_file_name(shard, self._shards)))
            yield split_name, len(rows[split_name])
        logging.info("Wrote user shard %d of %d: %s", shard + 1, self._shards,
                     ", ".join(f"{len(rows[name])} {name}" for name in SHARDED_SPLITS))


def write_shards(pipeline: beam.Pipeline, staging: str, split_folders: Dict[str, str],
                 shards: int, history_length: int, max_history: int) -> str:
    """Adds the writing of every shard to `pipeline`; after it ran, the file whose
    path this returns holds {split name: rows written} (read it with read_counts)."""
    counts_path = os.path.join(staging, "counts.pkl")
    _ = (pipeline
         | "Shards" >> beam.Create(range(shards))
         | "Spread" >> beam.Reshuffle()
         | "WriteShard" >> beam.ParDo(WriteShard(staging, split_folders, shards,
                                                 history_length, max_history))
         | "CountPerSplit" >> beam.CombinePerKey(sum)
         | "ToDict" >> beam.combiners.ToDict()
         | "WriteCounts" >> beam.Map(lambda counts: _write_pickle(counts_path, counts)))
    return counts_path


def read_counts(path: str) -> Dict[str, int]:
    counts = _read_pickle(path)
    return {name: counts.get(name, 0) for name in SHARDED_SPLITS}


def _shard_path(folder: str, shard: int) -> str:
    return os.path.join(folder, f"interactions-{shard:05d}.pkl")


# Pickle, not a columnar format: the frames hold lists of tags and must come back
# exactly as the data contract validates them. Only this component reads them.
def _write_pickle(path: str, value) -> None:
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _read_pickle(path: str):
    with tf.io.gfile.GFile(path, "rb") as f:
        return pickle.loads(f.read())
