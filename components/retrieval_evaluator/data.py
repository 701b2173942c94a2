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
                dense = np.zeros((dense.shape[0], 1), dense.dtype)
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


def _history_matrix(histories: List[List[bytes]], length: int) -> np.ndarray:
    matrix = np.full((len(histories), max(length, 1)), b"", dtype=object)
    for row, items in enumerate(histories):
        matrix[row, :len(items)] = items
    return matrix


def load(examples: types.Artifact, query_specs: Dict[str, tf.TensorSpec],
         candidate_specs: Dict[str, tf.TensorSpec], history_length: int) -> EvaluationData:
    """Reads train, eval and candidates and builds one query per eval user."""
    key_specs = {features.USER_ID: tf.TensorSpec([None], tf.string),
                 features.ITEM_ID: tf.TensorSpec([None], tf.string),
                 features.TIMESTAMP: tf.TensorSpec([None], tf.int64)}
    user_specs = {name: spec for name, spec in query_specs.items()
                  if name != features.HISTORY_ITEM_IDS}
    unsupported = [name for name, spec in user_specs.items() if spec.shape.rank != 1]
    if unsupported:
        raise ValueError(f"query features {unsupported} are lists; only the history may be")
    specs = {**user_specs, **key_specs}
    train = pd.DataFrame(read_columns(split_pattern(examples, features.TRAIN_SPLIT), specs))
    evaluation = pd.DataFrame(read_columns(split_pattern(examples, features.EVAL_SPLIT), specs))
    candidates = read_columns(split_pattern(examples, features.CANDIDATES_SPLIT),
                              {**candidate_specs, features.ITEM_ID: key_specs[features.ITEM_ID],
                               features.ITEM_TAGS: tf.TensorSpec([None, None], tf.string)})

    item_ids = candidates[features.ITEM_ID]
    item_index = pd.Series(np.arange(len(item_ids)), index=item_ids)
    train["item_index"] = item_index.reindex(train[features.ITEM_ID]).to_numpy()
    evaluation["item_index"] = item_index.reindex(evaluation[features.ITEM_ID]).to_numpy()
    train = train.dropna(subset=["item_index"]).sort_values(
        [features.USER_ID, features.TIMESTAMP], kind="stable")
    evaluation = evaluation.dropna(subset=["item_index"])

    user_ids = np.array(sorted(evaluation[features.USER_ID].unique()), dtype=object)
    train_by_user = train.groupby(features.USER_ID)
    eval_by_user = evaluation.groupby(features.USER_ID)
    histories, train_items, eval_items, user_rows = [], [], [], []
    for user in user_ids:
        user_eval = eval_by_user.get_group(user)
        eval_items.append(set(user_eval["item_index"].astype(int)))
        if user in train_by_user.groups:
            user_train = train_by_user.get_group(user)
            histories.append(list(user_train[features.ITEM_ID].iloc[::-1][:history_length]))
            train_items.append(set(user_train["item_index"].astype(int)))
            user_rows.append(user_train.iloc[-1])
        else:
            histories.append([])
            train_items.append(set())
            user_rows.append(user_eval.iloc[0])
    user_frame = pd.DataFrame(user_rows)
    query_inputs = {name: user_frame[name].to_numpy() for name in user_specs}
    if features.HISTORY_ITEM_IDS in query_specs:
        query_inputs[features.HISTORY_ITEM_IDS] = _history_matrix(histories, history_length)
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
        user_ids=user_ids, query_inputs=query_inputs,
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
