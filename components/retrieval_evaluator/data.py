"""Reads the Examples splits into what full-catalogue evaluation needs."""
import dataclasses
from typing import Dict, List, Set

import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils
from tfx.utils import io_utils

from models import features


@dataclasses.dataclass
class EvaluationData:
    item_ids: np.ndarray                   # the catalogue, in candidates-split order
    candidate_inputs: Dict[str, np.ndarray]
    user_ids: np.ndarray                   # users with at least one eval interaction
    query_inputs: Dict[str, np.ndarray]    # each user's state at the end of training
    train_items: List[Set[int]]            # per evaluated user, catalogue indices
    eval_items: List[Set[int]]
    train_item_counts: np.ndarray          # per catalogue item
    train_matrix: sp.csr_matrix            # every training user x catalogue item, 1 = interacted
    train_rows: np.ndarray                 # per evaluated user, their row there (-1: none)
    item_tags: sp.csr_matrix               # catalogue item x tag, multi-hot


def split_pattern(examples: types.Artifact, split: str) -> str:
    return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))


def read_columns(pattern: str, specs: Dict[str, tf.TensorSpec]) -> Dict[str, np.ndarray]:
    """Reads the named features; rank-2 specs come back padded ("" or 0)."""
    files = tf.io.gfile.glob(pattern)
    parse_spec = {name: tf.io.VarLenFeature(spec.dtype) for name, spec in specs.items()}
    columns: Dict[str, List[np.ndarray]] = {name: [] for name in specs}
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192)
    for batch in dataset.map(lambda r: tf.io.parse_example(r, parse_spec)):
        for name, spec in specs.items():
            dense = tf.sparse.to_dense(batch[name]).numpy()
            if dense.shape[1] == 0:  # Every example of the batch has an empty list.
                dense = np.full((dense.shape[0], 1), b"" if dense.dtype == object else 0,
                                dense.dtype)
            columns[name].append(dense[:, 0] if spec.shape.rank == 1 else dense)
    return {name: _concat_padded(parts, specs[name].shape.rank) for name, parts in columns.items()}


def _concat_padded(parts: List[np.ndarray], rank: int) -> np.ndarray:
    if not parts:
        return np.array([])
    if rank == 1:
        return np.concatenate(parts)
    width = max(p.shape[1] for p in parts)
    return np.concatenate([
        np.pad(p, ((0, 0), (0, width - p.shape[1])),
               constant_values=b"" if p.dtype == object else 0) for p in parts])


def load(examples: types.Artifact, query_specs: Dict[str, tf.TensorSpec],
         candidate_specs: Dict[str, tf.TensorSpec]) -> EvaluationData:
    """Reads the splits and takes each eval user's query from the users split:
    their fields and whole training history, as the model was trained and is served."""
    key_specs = {features.USER_ID: tf.TensorSpec([None], tf.string),
                 features.ITEM_ID: tf.TensorSpec([None], tf.string),
                 features.TIMESTAMP: tf.TensorSpec([None], tf.int64)}
    user_specs = {name: spec for name, spec in query_specs.items()
                  if name != features.HISTORY_ITEM_IDS}
    unsupported = [name for name, spec in user_specs.items() if spec.shape.rank != 1]
    if unsupported:
        raise ValueError(f"query features {unsupported} are lists; only the history may be")
    interaction_specs = {**user_specs, **key_specs}
    train = pd.DataFrame(read_columns(split_pattern(examples, features.TRAIN_SPLIT),
                                      interaction_specs))
    evaluation = pd.DataFrame(read_columns(split_pattern(examples, features.EVAL_SPLIT),
                                           interaction_specs))
    queries = read_columns(split_pattern(examples, features.USERS_SPLIT), {
        **user_specs, features.USER_ID: key_specs[features.USER_ID],
        features.HISTORY_ITEM_IDS: tf.TensorSpec([None, None], tf.string)})
    candidates = read_columns(split_pattern(examples, features.CANDIDATES_SPLIT),
                              {**candidate_specs, features.ITEM_ID: key_specs[features.ITEM_ID],
                               features.ITEM_TAGS: tf.TensorSpec([None, None], tf.string)})

    item_ids = candidates[features.ITEM_ID]
    item_index = pd.Series(np.arange(len(item_ids)), index=item_ids)
    train["item_index"] = item_index.reindex(train[features.ITEM_ID]).to_numpy()
    evaluation["item_index"] = item_index.reindex(evaluation[features.ITEM_ID]).to_numpy()
    train = train.dropna(subset=["item_index"])
    evaluation = evaluation.dropna(subset=["item_index"])

    user_ids = np.array(sorted(evaluation[features.USER_ID].unique()), dtype=object)
    train_items_by_user = train.groupby(features.USER_ID)["item_index"].agg(
        lambda column: set(column.astype(int)))
    eval_by_user = evaluation.groupby(features.USER_ID)
    query_row = {user: row for row, user in enumerate(queries[features.USER_ID])}
    empty_history = np.full(queries[features.HISTORY_ITEM_IDS].shape[1:], b"", dtype=object)
    query_inputs: Dict[str, List] = {name: [] for name in query_specs}
    train_items, eval_items = [], []
    for user in user_ids:
        user_eval = eval_by_user.get_group(user)
        eval_items.append(set(user_eval["item_index"].astype(int)))
        train_items.append(train_items_by_user.get(user, set()))
        row = query_row.get(user)
        for name in query_specs:
            if row is not None:
                query_inputs[name].append(queries[name][row])
            elif name == features.HISTORY_ITEM_IDS:
                query_inputs[name].append(empty_history)  # no training interactions
            else:
                query_inputs[name].append(user_eval[name].iloc[0])
    counts = np.bincount(train["item_index"].astype(int), minlength=len(item_ids))
    train_users, train_user_rows = np.unique(train[features.USER_ID].to_numpy(), return_inverse=True)
    train_matrix = sp.csr_matrix(
        (np.ones(len(train)), (train_user_rows, train["item_index"].astype(int))),
        shape=(len(train_users), len(item_ids)))
    train_matrix.data[:] = 1.0  # Repeated interactions count once.
    row_of_user = {user: row for row, user in enumerate(train_users)}
    return EvaluationData(
        item_ids=item_ids,
        candidate_inputs={name: candidates[name] for name in candidate_specs},
        user_ids=user_ids,
        query_inputs={name: np.array(values) if values else np.array([])
                      for name, values in query_inputs.items()},
        train_items=train_items, eval_items=eval_items, train_item_counts=counts,
        train_matrix=train_matrix,
        train_rows=np.array([row_of_user.get(user, -1) for user in user_ids]),
        item_tags=_multi_hot(candidates[features.ITEM_TAGS]))


def _multi_hot(tags: np.ndarray) -> sp.csr_matrix:
    """Rows of padded tag lists -> item x tag indicator matrix."""
    vocabulary = {tag: column for column, tag in enumerate(sorted(set(tags.ravel()) - {b""}))}
    rows, columns = [], []
    for row, item_tags in enumerate(tags):
        for tag in item_tags:
            if tag:
                rows.append(row)
                columns.append(vocabulary[tag])
    return sp.csr_matrix((np.ones(len(rows)), (rows, columns)),
                         shape=(len(tags), max(len(vocabulary), 1)))


def sample_users(evaluation: EvaluationData, max_users: int, seed: int) -> EvaluationData:
    """A seeded random `max_users` of the evaluated users, in their original order;
    all of them when there are no more than that or `max_users` is 0. The
    catalogue and the training data (the baselines' fit) stay whole."""
    if not max_users or len(evaluation.user_ids) <= max_users:
        return evaluation
    rows = np.sort(np.random.default_rng(seed).choice(
        len(evaluation.user_ids), size=max_users, replace=False))
    return dataclasses.replace(
        evaluation, user_ids=evaluation.user_ids[rows],
        query_inputs={name: values[rows] for name, values in evaluation.query_inputs.items()},
        train_items=[evaluation.train_items[row] for row in rows],
        eval_items=[evaluation.eval_items[row] for row in rows],
        train_rows=evaluation.train_rows[rows])
