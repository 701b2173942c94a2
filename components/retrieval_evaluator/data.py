"""Reads the Examples splits into what full-catalogue evaluation needs.

Interactions are read a batch at a time into integer codes (user, catalogue
item): at ML-25M's 25M interactions, reading them as columns of Python strings
took the evaluator to 11.8 GB before it scored anything.
"""
import dataclasses
from typing import Dict, Iterator, List, Optional, Set, Tuple, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils
from tfx.utils import io_utils

from models import features

_READ_BATCH = 8192  # examples parsed at a time


class RaggedIds:
    """Per user, a list of ids held as int32 codes into `vocabulary`; indexing
    with rows gives those users' lists as a ``b""``-padded array, as the query
    signature takes them."""

    def __init__(self, vocabulary: np.ndarray, offsets: np.ndarray, codes: np.ndarray):
        self.vocabulary = vocabulary
        self.offsets = offsets
        self.codes = codes

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        starts, ends = self.offsets[rows], self.offsets[np.asarray(rows) + 1]
        lengths = ends - starts
        padded = np.full((len(lengths), max(int(lengths.max(initial=0)), 1)), b"", dtype=object)
        column = np.arange(padded.shape[1])
        present = column[None, :] < lengths[:, None]
        padded[present] = self.vocabulary[self.codes[(starts[:, None] + column)[present]]]
        return padded

    def take(self, rows: np.ndarray) -> "RaggedIds":
        starts, ends = self.offsets[rows], self.offsets[np.asarray(rows) + 1]
        lengths = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return RaggedIds(self.vocabulary, offsets, self.codes[positions])


QueryColumn = Union[np.ndarray, RaggedIds]


@dataclasses.dataclass
class EvaluationData:
    item_ids: np.ndarray                   # the catalogue, in candidates-split order
    candidate_inputs: Dict[str, np.ndarray]
    user_ids: np.ndarray                   # users with at least one eval interaction
    query_inputs: Dict[str, QueryColumn]   # each user's state at the end of training
    eval_items: List[Set[int]]             # per evaluated user, catalogue indices
    train_item_counts: np.ndarray          # per catalogue item
    train_matrix: sp.csr_matrix            # every training user x catalogue item, 1 = interacted
    train_rows: np.ndarray                 # per evaluated user, their row there (-1: none)
    item_tags: sp.csr_matrix               # catalogue item x tag, multi-hot

    def seen_matrix(self) -> sp.csr_matrix:
        """Evaluated users x catalogue items, 1 where the item is in the user's training."""
        has_train = self.train_rows >= 0
        seen = self.train_matrix[np.where(has_train, self.train_rows, 0)]
        seen = sp.csr_matrix(seen.multiply(has_train[:, None].astype(seen.dtype)))
        seen.eliminate_zeros()
        return seen

    def train_counts(self) -> np.ndarray:
        """Per evaluated user, how many distinct items they trained on."""
        per_row = np.diff(self.train_matrix.indptr)
        return np.where(self.train_rows >= 0, per_row[np.maximum(self.train_rows, 0)], 0)

    def queries(self, rows: np.ndarray) -> Dict[str, np.ndarray]:
        """The query signature's inputs for evaluated users `rows`."""
        return {name: values[rows] for name, values in self.query_inputs.items()}


def split_pattern(examples: types.Artifact, split: str) -> str:
    return io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split))


def _batches(pattern: str, specs: Dict[str, tf.TensorSpec]) -> Iterator[Dict]:
    """Batches of the named features: rank-1 specs as one value per example ("" or
    0 when absent), rank-2 as tf.RaggedTensor."""
    files = sorted(tf.io.gfile.glob(pattern))  # a split's shards, in order
    parse_spec = {name: tf.io.VarLenFeature(spec.dtype) for name, spec in specs.items()}
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(_READ_BATCH)
    for batch in dataset.map(lambda r: tf.io.parse_example(r, parse_spec)):
        columns = {}
        for name, spec in specs.items():
            ragged = tf.RaggedTensor.from_sparse(batch[name])
            columns[name] = (ragged.to_tensor(shape=[None, 1])[:, 0].numpy()
                             if spec.shape.rank == 1 else ragged)
        yield columns


def read_columns(pattern: str, specs: Dict[str, tf.TensorSpec]) -> Dict[str, np.ndarray]:
    """Reads the named features; rank-2 specs come back padded ("" or 0)."""
    columns: Dict[str, List[np.ndarray]] = {name: [] for name in specs}
    for batch in _batches(pattern, specs):
        for name, values in batch.items():
            columns[name].append(values if specs[name].shape.rank == 1
                                 else values.to_tensor().numpy())
    return {name: _concat_padded(parts, specs[name].shape.rank) for name, parts in columns.items()}


def _concat_padded(parts: List[np.ndarray], rank: int) -> np.ndarray:
    if not parts:
        return np.array([])
    if rank == 1:
        return np.concatenate(parts)
    width = max(max(p.shape[1] for p in parts), 1)
    return np.concatenate([
        np.pad(p, ((0, 0), (0, width - p.shape[1])),
               constant_values=b"" if p.dtype == object else 0) for p in parts])


class _Codes:
    """Integer codes of ids, in the order first seen."""

    def __init__(self):
        self.code_of: Dict[bytes, int] = {}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        code_of = self.code_of
        return np.fromiter((code_of.setdefault(i, len(code_of)) for i in ids), np.int32,
                           len(ids))

    def ids(self) -> np.ndarray:
        return np.array(list(self.code_of), dtype=object)


_ID_SPECS = {features.USER_ID: tf.TensorSpec([None], tf.string),
             features.ITEM_ID: tf.TensorSpec([None], tf.string)}


def _interactions(pattern: str, catalogue: pd.Index, users: _Codes
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """(user code, catalogue index) of a split's interactions with catalogue items."""
    user_parts, item_parts = [], []
    for batch in _batches(pattern, _ID_SPECS):
        items = catalogue.get_indexer(batch[features.ITEM_ID])
        known = items >= 0
        user_parts.append(users(batch[features.USER_ID][known]))
        item_parts.append(items[known].astype(np.int32))
    if not user_parts:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(user_parts), np.concatenate(item_parts)


def _rows_by_id(codes: np.ndarray, ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The distinct `codes` ordered by their id, and each code's position in that
    order (-1 for codes not among them)."""
    distinct = np.unique(codes)
    ordered = distinct[np.argsort(ids[distinct], kind="stable")]
    row_of = np.full(len(ids), -1, np.int64)
    row_of[ordered] = np.arange(len(ordered))
    return ordered, row_of


def _matrix(rows: np.ndarray, columns: np.ndarray, shape) -> sp.csr_matrix:
    """0/1 matrix with a one at each (row, column); repeats count once."""
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)
    matrix.data[:] = 1.0
    return matrix


def _histories(pattern: str, catalogue: pd.Index, specs: Dict[str, tf.TensorSpec]
               ) -> Tuple[np.ndarray, Dict[str, np.ndarray], RaggedIds]:
    """The users split: user ids, their other scalar fields, and their histories as
    codes into the catalogue (ids outside it get codes after it)."""
    extra = _Codes()
    ids, fields, lengths, codes = [], {name: [] for name in specs}, [], []
    for batch in _batches(pattern, {**specs, features.USER_ID: _ID_SPECS[features.USER_ID],
                                    features.HISTORY_ITEM_IDS:
                                        tf.TensorSpec([None, None], tf.string)}):
        ids.append(batch[features.USER_ID])
        for name in specs:
            fields[name].append(batch[name])
        history = batch[features.HISTORY_ITEM_IDS]
        lengths.append(history.row_lengths().numpy())
        values = history.flat_values.numpy()
        batch_codes = catalogue.get_indexer(values)
        outside = batch_codes < 0
        if outside.any():
            batch_codes[outside] = len(catalogue) + extra(values[outside])
        codes.append(batch_codes.astype(np.int32))
    vocabulary = np.concatenate([catalogue.to_numpy(dtype=object), extra.ids()])
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    histories = RaggedIds(vocabulary, offsets,
                          np.concatenate(codes) if codes else np.zeros(0, np.int32))
    return (np.concatenate(ids) if ids else np.array([], dtype=object),
            {name: _concat_padded(parts, 1) for name, parts in fields.items()}, histories)


def _first_rows(pattern: str, specs: Dict[str, tf.TensorSpec], wanted: Set[bytes]
                ) -> Dict[bytes, Dict[str, object]]:
    """Per wanted user id, the fields of their first example in a split."""
    found: Dict[bytes, Dict[str, object]] = {}
    for batch in _batches(pattern, {**specs, features.USER_ID: _ID_SPECS[features.USER_ID]}):
        for row, user in enumerate(batch[features.USER_ID]):
            if user in wanted and user not in found:
                found[user] = {name: batch[name][row] for name in specs}
        if len(found) == len(wanted):
            break
    return found


def load(examples: types.Artifact, query_specs: Dict[str, tf.TensorSpec],
         candidate_specs: Dict[str, tf.TensorSpec]) -> EvaluationData:
    """Reads the splits and takes each eval user's query from the users split:
    their fields and whole training history, as the model was trained and is served.
    A user without training interactions has an empty history and the fields of
    their first eval interaction."""
    user_specs = {name: spec for name, spec in query_specs.items()
                  if name != features.HISTORY_ITEM_IDS}
    unsupported = [name for name, spec in user_specs.items() if spec.shape.rank != 1]
    if unsupported:
        raise ValueError(f"query features {unsupported} are lists; only the history may be")
    user_specs.pop(features.USER_ID, None)
    candidates = read_columns(split_pattern(examples, features.CANDIDATES_SPLIT),
                              {**candidate_specs, features.ITEM_ID: _ID_SPECS[features.ITEM_ID],
                               features.ITEM_TAGS: tf.TensorSpec([None, None], tf.string)})
    item_ids = candidates[features.ITEM_ID]
    catalogue = pd.Index(item_ids)
    num_items = len(item_ids)

    users = _Codes()
    train_users, train_items = _interactions(
        split_pattern(examples, features.TRAIN_SPLIT), catalogue, users)
    eval_users, eval_items = _interactions(
        split_pattern(examples, features.EVAL_SPLIT), catalogue, users)
    ids = users.ids()
    trained, train_row_of = _rows_by_id(train_users, ids)
    train_matrix = _matrix(train_row_of[train_users], train_items, (len(trained), num_items))
    evaluated, eval_row_of = _rows_by_id(eval_users, ids)
    eval_matrix = _matrix(eval_row_of[eval_users], eval_items, (len(evaluated), num_items))
    user_ids = ids[evaluated]

    query_ids, query_fields, histories = _histories(
        split_pattern(examples, features.USERS_SPLIT), catalogue, user_specs)
    query_rows = pd.Index(query_ids).get_indexer(user_ids)
    missing = query_rows < 0
    fallback = (_first_rows(split_pattern(examples, features.EVAL_SPLIT), user_specs,
                            set(user_ids[missing])) if missing.any() and user_specs else {})
    query_inputs: Dict[str, QueryColumn] = {}
    for name in query_specs:
        if name == features.HISTORY_ITEM_IDS:
            # Users without a row get an empty history (row -1 -> an appended empty list).
            with_empty = RaggedIds(histories.vocabulary,
                                   np.append(histories.offsets, histories.offsets[-1]),
                                   histories.codes)
            query_inputs[name] = with_empty.take(np.where(missing, len(histories), query_rows))
        elif name == features.USER_ID:
            query_inputs[name] = user_ids
        else:
            known = query_fields[name]
            values = (known[np.maximum(query_rows, 0)] if len(known)
                      else np.empty(len(user_ids), dtype=object))
            for row in np.flatnonzero(missing):
                values[row] = fallback[user_ids[row]][name]
            query_inputs[name] = values
    return EvaluationData(
        item_ids=item_ids,
        candidate_inputs={name: candidates[name] for name in candidate_specs},
        user_ids=user_ids,
        query_inputs=query_inputs,
        eval_items=[set(eval_matrix.indices[start:end].tolist()) for start, end in
                    zip(eval_matrix.indptr[:-1], eval_matrix.indptr[1:])],
        train_item_counts=np.bincount(train_items, minlength=num_items),
        train_matrix=train_matrix,
        train_rows=train_row_of[evaluated],
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
        query_inputs={name: values.take(rows) if isinstance(values, RaggedIds) else values[rows]
                      for name, values in evaluation.query_inputs.items()},
        eval_items=[evaluation.eval_items[row] for row in rows],
        train_rows=evaluation.train_rows[rows])
