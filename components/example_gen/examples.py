"""Training rows from a Dataset: train and eval interactions with features and
history, one candidate row per catalogue item, and their tf.Example encoding."""
import collections.abc
import dataclasses
import numbers
import os
from typing import (Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional,
                    Sequence)

import numpy as np
import pandas as pd
import tensorflow as tf

from components.example_gen import external_split
from components.example_gen.split_config import SplitConfig
from data_contract.contract import Dataset
from data_contract.pseudonyms import Pseudonymiser
from models import features, split_info

# Guards floor(eval_fraction * n) against products like 0.29 * 100 = 28.999999999999996.
_FLOOR_TOLERANCE = 1e-9


class LazyRows(collections.abc.Sequence):
    """Interaction rows built when read, each time anew: held as dicts they took about
    0.8 KB a row (0.8 GB at ML-1M's million interactions, 8 GB at ML-10M's)."""

    def __init__(self, positions: np.ndarray, build: Callable[[int], Dict[str, Any]]):
        self._positions = positions
        self._build = build

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._build(position) for position in self._positions[index]]
        return self._build(self._positions[index])

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return map(self._build, self._positions)

    def __add__(self, other: Sequence) -> List[Dict[str, Any]]:
        return list(self) + list(other)

    def __radd__(self, other: Sequence) -> List[Dict[str, Any]]:
        return list(other) + list(self)


@dataclasses.dataclass(frozen=True)
class Examples:
    """Rows by split name (train, eval, candidates, users) and what the split is."""
    splits: Dict[str, Sequence[Dict[str, Any]]]
    info: split_info.SplitInfo


def build_examples(dataset: Dataset, split: SplitConfig = SplitConfig(),
                   history_length: int = 10, max_history: int = 1000,
                   pseudonymiser: Optional[Pseudonymiser] = None,
                   erased_users: FrozenSet[str] = frozenset()) -> Examples:
    """Splits the interactions and flattens them with their features into rows.

    With a `pseudonymiser`, every user id (of the dataset and of a split's files)
    becomes its pseudonym first, and the users whose pseudonyms are in
    `erased_users` are left out entirely.

    In an interaction row, history_item_ids holds the user's previous
    `history_length` train interactions strictly before the row's timestamp,
    most recent first (equal timestamps ordered as in the source); in a users
    row, the user's last `max_history` train interactions. Eval interactions
    never enter a history.
    """
    eval_mask = None
    if split.method == "files":
        dataset, eval_mask = external_split.load(dataset, split.train_file, split.test_file)
    if pseudonymiser is not None:
        dataset, kept = pseudonymiser.apply(dataset, erased_users)
        eval_mask = None if eval_mask is None else eval_mask[kept]
    return _build_examples(dataset, split, history_length, max_history, eval_mask)


def _build_examples(dataset: Dataset, split: SplitConfig, history_length: int,
                    max_history: int, eval_mask: Optional[np.ndarray] = None) -> Examples:
    for name, value in (("history_length", history_length), ("max_history", max_history)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    interactions = dataset.interactions
    rng = np.random.default_rng(split.seed)
    holdout_ids = _holdout_items(rng, dataset.items[features.ITEM_ID].to_numpy(),
                                 split.holdout_item_fraction)
    user_codes = pd.factorize(interactions[features.USER_ID])[0]
    timestamps = interactions[features.TIMESTAMP].to_numpy()
    # Positions in (user, time, source order) order.
    order = np.lexsort((np.arange(len(interactions)), timestamps, user_codes))
    is_eval = interactions[features.ITEM_ID].isin(holdout_ids).to_numpy()
    if eval_mask is not None:
        is_eval |= eval_mask
    else:
        is_eval |= _eval_interactions(rng, split, user_codes, order, is_eval)
    history_items, history_end, history_size = _histories(
        interactions[features.ITEM_ID].to_numpy(), user_codes, timestamps, order, ~is_eval,
        history_length)

    item_rows = _item_features(dataset)
    user_rows = _user_features(dataset)
    user_ids, item_ids, times = [
        interactions[c].tolist() for c in (features.USER_ID, features.ITEM_ID, features.TIMESTAMP)]
    ratings = interactions[features.RATING].tolist() if dataset.has_ratings else None

    def interaction_row(index: int) -> Dict[str, Any]:
        row = {features.USER_ID: user_ids[index], features.ITEM_ID: item_ids[index],
               features.TIMESTAMP: times[index]}
        if ratings is not None:
            row[features.RATING] = ratings[index]
        row.update(_copy_item_features(item_rows[item_ids[index]]))
        row.update(user_rows[user_ids[index]])
        end, size = history_end[index], history_size[index]
        row[features.HISTORY_ITEM_IDS] = history_items[end - size:end][::-1].tolist()
        return row

    train = LazyRows(np.flatnonzero(~is_eval), interaction_row)
    evaluation = LazyRows(np.flatnonzero(is_eval), interaction_row)
    candidates = [{features.ITEM_ID: item_id, **_copy_item_features(item_rows[item_id])}
                  for item_id in dataset.items[features.ITEM_ID]]
    users = _user_rows(interactions[features.USER_ID].to_numpy(),
                       interactions[features.ITEM_ID].to_numpy(), order, ~is_eval,
                       user_rows, max_history)
    order_matters = (split.method == "temporal" if eval_mask is None else
                     split_info.looks_temporal(user_codes, timestamps, is_eval))
    return Examples(splits={features.TRAIN_SPLIT: train, features.EVAL_SPLIT: evaluation,
                            features.CANDIDATES_SPLIT: candidates, features.USERS_SPLIT: users},
                    info=split_info.SplitInfo(order_matters, holdout_ids))


def _user_rows(user_ids: np.ndarray, item_ids: np.ndarray, order: np.ndarray,
               is_train: np.ndarray, user_features: Dict[str, Dict[str, Any]],
               max_history: int) -> List[Dict[str, Any]]:
    """One row per user with train interactions: their fields and their last
    `max_history` train items, most recent first."""
    train_order = order[is_train[order]]  # by user, then time
    users, items = user_ids[train_order], item_ids[train_order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    rows = []
    for start, end in zip(starts, ends):
        history = items[max(start, end - max_history):end][::-1].tolist() if max_history else []
        rows.append({features.USER_ID: users[start], **user_features[users[start]],
                     features.HISTORY_ITEM_IDS: history})
    return rows


def _holdout_items(rng: np.random.Generator, item_ids: np.ndarray, fraction: float) -> List[str]:
    count = int(round(fraction * len(item_ids)))
    return sorted(item_ids[rng.choice(len(item_ids), size=count, replace=False)].tolist())


def _eval_interactions(rng: np.random.Generator, split: SplitConfig, user_codes: np.ndarray,
                       order: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Which interactions the split sends to eval, among those not `excluded`."""
    positions = order[~excluded[order]]  # by user, then time
    users = user_codes[positions]
    per_user = np.bincount(users)
    first = np.concatenate([[0], np.cumsum(per_user)[:-1]])
    count = per_user[users]
    num_eval = np.minimum(np.floor(split.eval_fraction * count + _FLOOR_TOLERANCE), count - 1)
    if split.method == "random_rows":
        num_rows = int(np.floor(split.eval_fraction * len(positions) + _FLOOR_TOLERANCE))
        chosen = np.zeros(len(positions), dtype=bool)
        chosen[rng.choice(len(positions), size=num_rows, replace=False)] = True
    elif split.method == "temporal":
        rank_from_end = count - 1 - (np.arange(len(positions)) - first[users])
        chosen = rank_from_end < num_eval
    else:
        shuffled = np.lexsort((rng.random(len(positions)), users))
        random_rank = np.empty(len(positions), dtype=np.int64)
        random_rank[shuffled] = np.arange(len(positions)) - first[users[shuffled]]
        chosen = random_rank < num_eval
    is_eval = np.zeros(len(user_codes), dtype=bool)
    is_eval[positions[chosen]] = True
    return is_eval


def _histories(item_ids: np.ndarray, user_codes: np.ndarray, timestamps: np.ndarray,
               order: np.ndarray, is_train: np.ndarray, history_length: int):
    """The train item ids in (user, time) order, and for each interaction the end and
    length of its history slice in them."""
    sorted_users, sorted_times = user_codes[order], timestamps[order]
    sorted_train = is_train[order]
    train_before = np.cumsum(sorted_train) - sorted_train  # train rows earlier in the order
    starts_group = np.ones(len(order), dtype=bool)
    starts_group[1:] = ((sorted_users[1:] != sorted_users[:-1])
                        | (sorted_times[1:] != sorted_times[:-1]))
    starts_user = np.ones(len(order), dtype=bool)
    starts_user[1:] = sorted_users[1:] != sorted_users[:-1]
    # Ties in time see only what precedes their whole (user, timestamp) group.
    end = train_before[np.flatnonzero(starts_group)[np.cumsum(starts_group) - 1]]
    user_start = train_before[np.flatnonzero(starts_user)[np.cumsum(starts_user) - 1]]
    size = np.minimum(end - user_start, history_length)
    history_end, history_size = np.empty_like(end), np.empty_like(size)
    history_end[order], history_size[order] = end, size
    return item_ids[order][sorted_train], history_end, history_size


def _item_features(dataset: Dataset) -> Dict[str, Dict[str, Any]]:
    """Item id -> item_text (text fields joined), item_tags (tag fields merged) and
    item_<numeric> of that item; a dataset without text (tag) fields has no item_text
    (item_tags), so the blocks that read them drop out."""
    items = dataset.items
    text_columns = [items[f].tolist() for f in dataset.item_text_fields]
    tag_columns = [items[f].tolist() for f in dataset.item_tag_fields]
    numeric_columns = {features.item_numeric_feature_name(f): items[f].tolist()
                       for f in dataset.item_numeric_fields}
    by_id = {}
    for i, item_id in enumerate(items[features.ITEM_ID]):
        row = {name: values[i] for name, values in numeric_columns.items()}
        if text_columns:
            row[features.ITEM_TEXT] = ". ".join(column[i] for column in text_columns if column[i])
        if tag_columns:
            row[features.ITEM_TAGS] = list(dict.fromkeys(
                tag for column in tag_columns for tag in column[i]))
        by_id[item_id] = row
    return by_id


def _copy_item_features(item_features: Dict[str, Any]) -> Dict[str, Any]:
    """A copy whose tag list (if any) is the row's own."""
    copy = dict(item_features)
    if features.ITEM_TAGS in copy:
        copy[features.ITEM_TAGS] = list(copy[features.ITEM_TAGS])
    return copy


def _user_features(dataset: Dataset) -> Dict[str, Dict[str, Any]]:
    """User id -> user_<field> of that user."""
    fields = dataset.user_categorical_fields + dataset.user_numeric_fields
    columns = {features.user_feature_name(f): dataset.users[f].tolist() for f in fields}
    return {user_id: {name: values[i] for name, values in columns.items()}
            for i, user_id in enumerate(dataset.users[features.USER_ID])}


def to_tf_example(row: Mapping[str, Any]) -> tf.train.Example:
    """str and lists of str -> bytes_list (UTF-8), int -> int64_list, float -> float_list."""
    return tf.train.Example(features=tf.train.Features(
        feature={name: _feature(name, value) for name, value in row.items()}))


def _feature(name: str, value: Any) -> tf.train.Feature:
    if isinstance(value, str):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[v.encode("utf-8") for v in value]))
    if isinstance(value, numbers.Integral):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    if isinstance(value, numbers.Real):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    raise TypeError(f"feature {name!r}: cannot encode {type(value).__name__} {value!r}")


def write_tfrecord_gz(rows: Iterable[Mapping[str, Any]], path: str) -> None:
    """Writes the rows as GZIP-compressed TFRecords of tf.Examples, creating the folder."""
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type="GZIP")) as w:
        for row in rows:
            w.write(to_tf_example(row).SerializeToString())
