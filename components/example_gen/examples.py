"""Training rows from a Dataset: train and eval interactions with the user's
features and history, one candidate row per catalogue item with its features,
one row per user. Item features live in the candidate rows only; an interaction
names its item by id and is joined to them by id (Transform, the Trainer).

Interaction and candidate rows are held as columns (encoding.ColumnarRows) and
built a batch at a time: the dataset's arrays and the split's index arrays are
all that grows with the number of interactions.
"""
import dataclasses
from typing import Any, Dict, FrozenSet, List, Optional, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from components.example_gen import external_split
from components.example_gen.encoding import ColumnarRows, single_values
from components.example_gen.split_config import SplitConfig
from data_contract.contract import Dataset
from data_contract.pseudonyms import Pseudonymiser
from models import features, split_info

# Guards floor(eval_fraction * n) against products like 0.29 * 100 = 28.999999999999996.
_FLOOR_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class Examples:
    """Rows by split name (train, eval, candidates, users) and what the split is."""
    splits: Dict[str, Sequence[Dict[str, Any]]]
    info: split_info.SplitInfo


@dataclasses.dataclass(frozen=True)
class SplitPlan:
    """A dataset as ExampleGen writes it (pseudonymised, erased users left out) and
    its split: which interactions go to eval (`is_eval`, in interaction order)."""
    dataset: Dataset
    is_eval: np.ndarray
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
    check_history_lengths(history_length, max_history)
    plan = plan_split(dataset, split, pseudonymiser, erased_users)
    rows = interaction_rows(plan.dataset, plan.is_eval, history_length, max_history)
    rows[features.CANDIDATES_SPLIT] = candidate_rows(plan.dataset)
    return Examples(splits={name: rows[name] for name in features.EXAMPLE_SPLITS},
                    info=plan.info)


def check_history_lengths(history_length: int, max_history: int) -> None:
    for name, value in (("history_length", history_length), ("max_history", max_history)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def plan_split(dataset: Dataset, split: SplitConfig = SplitConfig(),
               pseudonymiser: Optional[Pseudonymiser] = None,
               erased_users: FrozenSet[str] = frozenset()) -> SplitPlan:
    """Decides the split for the whole dataset (see build_examples), building no row."""
    eval_mask = None
    if split.method == "files":
        dataset, eval_mask = external_split.load(dataset, split.train_file, split.test_file)
    if pseudonymiser is not None:
        dataset, kept = pseudonymiser.apply(dataset, erased_users)
        eval_mask = None if eval_mask is None else eval_mask[kept]
    interactions = dataset.interactions
    rng = np.random.default_rng(split.seed)
    holdout_ids = _holdout_items(rng, dataset.items[features.ITEM_ID].to_numpy(),
                                 split.holdout_item_fraction)
    user_codes = pd.factorize(interactions[features.USER_ID])[0].astype(np.int32)
    timestamps = interactions[features.TIMESTAMP].to_numpy()
    is_eval = interactions[features.ITEM_ID].isin(holdout_ids).to_numpy()
    if eval_mask is not None:
        is_eval |= eval_mask
        order_matters = split_info.looks_temporal(user_codes, timestamps, is_eval)
    else:
        is_eval |= _eval_interactions(rng, split, user_codes, _user_time_order(
            user_codes, timestamps), is_eval)
        order_matters = split.method == "temporal"
    return SplitPlan(dataset, is_eval, split_info.SplitInfo(order_matters, holdout_ids))


def interaction_rows(dataset: Dataset, is_eval: np.ndarray, history_length: int,
                     max_history: int) -> Dict[str, ColumnarRows]:
    """The train, eval and users rows of a split dataset. Each user's rows need only
    that user's interactions, so a dataset holding some users whole gives those
    users' rows."""
    interactions = dataset.interactions
    user_codes = pd.factorize(interactions[features.USER_ID])[0].astype(np.int32)
    timestamps = interactions[features.TIMESTAMP].to_numpy()
    order = _user_time_order(user_codes, timestamps)
    history_items, history_end, history_size = _histories(
        interactions[features.ITEM_ID].to_numpy(), user_codes, timestamps, order, ~is_eval,
        history_length)
    user_columns = _user_columns(dataset)
    interaction_batch = _interaction_batches(dataset, user_columns,
                                             (history_items, history_end, history_size))
    train_order = order[~is_eval[order]]  # by user, then time
    user_starts = np.flatnonzero(np.diff(user_codes[train_order], prepend=-1))
    return {features.TRAIN_SPLIT: ColumnarRows(np.flatnonzero(~is_eval), interaction_batch),
            features.EVAL_SPLIT: ColumnarRows(np.flatnonzero(is_eval), interaction_batch),
            features.USERS_SPLIT: ColumnarRows(np.arange(len(user_starts)), _user_batches(
                dataset, user_columns, train_order, user_starts, max_history))}


def candidate_rows(dataset: Dataset) -> ColumnarRows:
    """One row per catalogue item: its id and features."""
    return ColumnarRows(np.arange(len(dataset.items)),
                        _candidate_batches(dataset, _item_columns(dataset)))


def _user_time_order(user_codes: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Positions in (user, time, source order) order."""
    return np.lexsort((np.arange(len(user_codes)), timestamps, user_codes))


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
    length (int32) of its history slice in them."""
    sorted_users = user_codes[order]
    starts_user = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    del sorted_users  # one value per interaction: freed early, for ExampleGen's peak
    sorted_times = timestamps[order]
    starts_group = starts_user | np.r_[True, sorted_times[1:] != sorted_times[:-1]]
    del sorted_times
    sorted_train = is_train[order]
    train_before = np.cumsum(sorted_train, dtype=np.int32)  # train rows earlier in the order
    train_before -= sorted_train
    # Ties in time see only what precedes their whole (user, timestamp) group.
    end = train_before[_run_starts(starts_group)]
    size = end - train_before[_run_starts(starts_user)]
    np.minimum(size, history_length, out=size)
    history_end, history_size = np.empty_like(end), np.empty_like(size)
    history_end[order], history_size[order] = end, size
    return item_ids[order[sorted_train]], history_end, history_size


def _run_starts(starts: np.ndarray) -> np.ndarray:
    """For each position, the position where its run begins (`starts` marks beginnings)."""
    index = np.where(starts, np.arange(len(starts), dtype=np.int32), 0)
    return np.maximum.accumulate(index, out=index)


def _interaction_batches(dataset: Dataset, user_columns: Dict[str, pa.ListArray], histories):
    """positions -> the record batch of those interactions: ids, time, rating, the
    user's features and the history (most recent first)."""
    interactions = dataset.interactions
    ids = {name: interactions[name].to_numpy()
           for name in (features.USER_ID, features.ITEM_ID, features.TIMESTAMP)}
    if dataset.has_ratings:
        ids[features.RATING] = interactions[features.RATING].to_numpy()
    user_codes = _codes(dataset.users[features.USER_ID], ids[features.USER_ID])
    history_items, history_end, history_size = histories

    def batch_of(positions: np.ndarray) -> pa.RecordBatch:
        columns = {name: single_values(pa.array(values[positions])) for name, values in ids.items()}
        for name, column in user_columns.items():
            columns[name] = column.take(user_codes[positions])
        columns[features.HISTORY_ITEM_IDS] = _backwards(
            history_items, history_end[positions], history_size[positions])
        return pa.RecordBatch.from_pydict(columns)

    return batch_of


def _candidate_batches(dataset: Dataset, item_columns: Dict[str, pa.ListArray]):
    """item codes -> the record batch of those catalogue items: id and features."""
    item_ids = single_values(pa.array(dataset.items[features.ITEM_ID].to_numpy(), pa.string()))

    def batch_of(codes: np.ndarray) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict({
            features.ITEM_ID: item_ids.take(codes),
            **{name: column.take(codes) for name, column in item_columns.items()}})

    return batch_of


def _user_batches(dataset: Dataset, user_columns: Dict[str, pa.ListArray],
                  train_order: np.ndarray, user_starts: np.ndarray, max_history: int):
    """indices into user_starts -> the record batch of those users: id, features and
    their last `max_history` train items, most recent first. `train_order` holds the
    train interactions by user, then time; each user's run starts at `user_starts`."""
    user_ids = dataset.interactions[features.USER_ID].to_numpy()
    train_items = dataset.interactions[features.ITEM_ID].to_numpy()[train_order]
    user_ends = np.r_[user_starts[1:], len(train_order)].astype(np.int64)
    first_rows = train_order[user_starts]
    user_codes = _codes(dataset.users[features.USER_ID], user_ids[first_rows])

    def batch_of(users: np.ndarray) -> pa.RecordBatch:
        columns = {features.USER_ID: single_values(pa.array(user_ids[first_rows[users]],
                                                            pa.string()))}
        for name, column in user_columns.items():
            columns[name] = column.take(user_codes[users])
        end = user_ends[users]
        columns[features.HISTORY_ITEM_IDS] = _backwards(
            train_items, end, np.minimum(end - user_starts[users], max_history))
        return pa.RecordBatch.from_pydict(columns)

    return batch_of


def _backwards(values: np.ndarray, end: np.ndarray, size: np.ndarray) -> pa.ListArray:
    """Row r: values[end_r - 1], values[end_r - 2], ..., values[end_r - size_r]."""
    offsets = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
    back = np.arange(offsets[-1]) - np.repeat(offsets[:-1], size)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                    pa.array(values[np.repeat(end - 1, size) - back], pa.string()))


def _codes(table_ids: pd.Series, ids: np.ndarray) -> np.ndarray:
    """The row of each id in its table (the contract checked that all are there)."""
    return pd.Index(table_ids).get_indexer(ids).astype(np.int32)


def _item_columns(dataset: Dataset) -> Dict[str, pa.ListArray]:
    """Per catalogue item (in table order): item_text (text fields joined), item_tags
    (tag fields merged) and item_<numeric>; a dataset without text (tag) fields has
    no item_text (item_tags), so the blocks that read them drop out."""
    items = dataset.items
    columns = {features.item_numeric_feature_name(f): single_values(pa.array(items[f].to_numpy()))
               for f in dataset.item_numeric_fields}
    if dataset.item_text_fields:
        text_columns = [items[f].tolist() for f in dataset.item_text_fields]
        columns[features.ITEM_TEXT] = single_values(pa.array(
            [". ".join(text for text in texts if text) for texts in zip(*text_columns)],
            pa.string()))
    if dataset.item_tag_fields:
        tag_columns = [items[f].tolist() for f in dataset.item_tag_fields]
        columns[features.ITEM_TAGS] = pa.array(
            [list(dict.fromkeys(tag for tags in lists for tag in tags))
             for lists in zip(*tag_columns)], pa.list_(pa.string()))
    return columns


def _user_columns(dataset: Dataset) -> Dict[str, pa.ListArray]:
    """Per user (in table order): user_<field>."""
    fields = dataset.user_categorical_fields + dataset.user_numeric_fields
    return {features.user_feature_name(f): single_values(pa.array(dataset.users[f].to_numpy()))
            for f in fields}
