"""Delimited files into the data contract, with every bad row located by line.

`load_csv` reads interactions (and optionally items and users) CSV files through
a column mapping. `read_table` and `Table` are the reading layer shared with the
other file-based adapters.
"""
import codecs
import collections
import contextlib
import csv
import gc
import io
import itertools
import os
import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from data_contract import contract
from data_contract.contract import Dataset, FileReport, LoadReport
from data_contract.errors import DataError
from models import features

# Undecodable bytes survive decoding with errors="surrogateescape" as these.
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]")
_DEFAULT_TAG_SEPARATOR = "|"
# Decoding errors are handled as by "surrogateescape" and counted, so that a chunk
# is searched for them only when it had some.
_COUNTED_ESCAPE = "unirec-counted-surrogateescape"
_escapes = [0]


def _escape_and_count(error: UnicodeDecodeError):
    _escapes[0] += 1
    return codecs.lookup_error("surrogateescape")(error)


codecs.register_error(_COUNTED_ESCAPE, _escape_and_count)
# What is wrong with a row: (field or None, reason, expected, got).
Problem = Tuple[Optional[str], str, str, Any]


class Withheld:
    """Stands for a personal value (a user id) in an error: the file and line locate it,
    and an error message may end up in a log."""

    def __repr__(self) -> str:
        return "a user id (not shown; see that line)"


WITHHELD = Withheld()


class Table:
    """The rows of one delimited file as strings, and the bad rows found in them.

    The parsing methods return arrays aligned with all rows and record the rows
    they cannot parse; `good_rows` then raises a DataError for the first bad row
    or, when skipping, counts the bad rows by reason in the file's report.
    """

    def __init__(self, name: str, columns: Sequence[str], rows: List[List[str]],
                 lines: List[int], on_bad_row: str, report: FileReport,
                 problems: Optional[Dict[int, Problem]] = None):
        self.name = name
        self.columns = list(columns)
        self.lines = np.asarray(lines, dtype=np.int64)
        cells = list(zip(*rows)) if rows else [()] * len(self.columns)
        self._values = {c: np.array(v, dtype=object) for c, v in zip(self.columns, cells)}
        self._on_bad_row = on_bad_row
        self._report = report
        # Row index -> the row's first problem.
        self._issues = dict(problems or {})
        self._stripped: Dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def require(self, column: str) -> None:
        if column not in self._values:
            raise DataError(self.name, 1, column, f"a column named {column!r}", self.columns)

    def strings(self, column: str) -> np.ndarray:
        self.require(column)
        return self._values[column]

    def stripped(self, column: str) -> np.ndarray:
        """The column's cells without surrounding white space (made once per column)."""
        if column not in self._stripped:
            self._stripped[column] = np.array([v.strip() for v in self.strings(column)],
                                              dtype=object)
        return self._stripped[column]

    def ids(self, column: str) -> np.ndarray:
        values = self.stripped(column)
        self.mark_bad(values == "", column, f"missing {column}", "a non-empty id", values)
        return values

    def numbers(self, column: str, required: bool, expected: str = "a number") -> np.ndarray:
        """Floats; an empty cell is NaN, or a bad row when `required`."""
        values = self.stripped(column)
        empty = values == ""
        parsed = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        unparsable = ~empty & ~np.isfinite(parsed)
        self.mark_bad(unparsable, column, f"unparsable {column}", expected, values)
        if required:
            self.mark_bad(empty, column, f"missing {column}", expected, values)
        parsed[empty | unparsable] = np.nan
        return parsed

    def integers(self, column: str, expected: str) -> np.ndarray:
        """Required int64 values; bad rows hold 0."""
        parsed = self.numbers(column, required=True, expected=expected)
        # Beyond 2**63 a float no longer casts to int64 (and a timestamp that large means nothing).
        outside = np.isfinite(parsed) & ((parsed != np.floor(parsed)) | (np.abs(parsed) >= 2.0**63))
        self.mark_bad(outside, column, f"unparsable {column}", expected, self.stripped(column))
        return np.where(np.isfinite(parsed) & ~outside, parsed, 0).astype(np.int64)

    def mark_duplicates(self, column: str, ids: np.ndarray, personal: bool = False) -> None:
        """Marks every repeat of an id after its first good row; a `personal` id (a user's)
        is not repeated in the error."""
        seen = set()
        repeats = np.zeros(len(ids), dtype=bool)
        for index, value in enumerate(ids):
            if index in self._issues:
                continue
            repeats[index] = value in seen
            seen.add(value)
        self.mark_bad(repeats, column, f"duplicate {column}", f"a unique {column}",
                      [WITHHELD] * len(ids) if personal else ids)

    def mark_unknown(self, column: str, ids: np.ndarray, known: Sequence[str],
                     source: str, personal: bool = False) -> None:
        """Marks ids not in `known`; a `personal` id (a user's) is not repeated in the error."""
        unknown = ~pd.Series(ids).isin(known).to_numpy()
        self.mark_bad(unknown, column, f"unknown {column}", f"an id listed in {source}",
                      [WITHHELD] * len(ids) if personal else ids)

    def mark_bad(self, mask: np.ndarray, field: Optional[str], reason: str, expected: str,
                 got: Sequence[Any]) -> None:
        for index in np.flatnonzero(mask):
            self._issues.setdefault(int(index), (field, reason, expected, got[index]))

    def good_rows(self) -> np.ndarray:
        """A mask of the rows without problems; see the class docstring."""
        self._report.rows_read += len(self)
        keep = np.ones(len(self), dtype=bool)
        if not self._issues:
            return keep
        if self._on_bad_row == "error":
            first = min(self._issues)
            field, _, expected, got = self._issues[first]
            raise DataError(self.name, int(self.lines[first]), field, expected, got)
        for index, (_, reason, _, _) in self._issues.items():
            self._report.skipped[reason] += 1
            keep[index] = False
        return keep


def count_lines(path: str) -> int:
    """The file's lines (a header included), counted in 1 MB reads."""
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def read_table(path: str, name: str, report: LoadReport, on_bad_row: str, delimiter: str = ",",
               encoding: str = "utf-8", column_names: Optional[Sequence[str]] = None,
               quoted: bool = True) -> Table:
    """Reads a delimited file; its header row names the columns unless `column_names` does."""
    return next(read_table_chunks(path, name, report, on_bad_row, delimiter, encoding,
                                  column_names, quoted))


def read_table_chunks(path: str, name: str, report: LoadReport, on_bad_row: str,
                      delimiter: str = ",", encoding: str = "utf-8",
                      column_names: Optional[Sequence[str]] = None, quoted: bool = True,
                      rows_per_chunk: int = 0) -> Iterator[Table]:
    """A delimited file as Tables of `rows_per_chunk` rows (0: one Table of them all),
    read as a stream: memory holds one chunk's strings, never the whole file's."""
    contract.check_on_bad_row(on_bad_row)
    try:
        binary = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no such file {os.path.abspath(path)!r}") from None
    # Undecodable bytes become _ESCAPED_BYTES: _locate_invalid_text reports their rows.
    escapes_at_start = _escapes[0]
    with io.TextIOWrapper(binary, encoding=encoding, errors=_COUNTED_ESCAPE,
                          newline="") as text:
        lines = iter(text)
        first = next(lines, "").removeprefix("\ufeff")  # a byte order mark is not data
        reader = csv.reader(itertools.chain([first] if first else [], lines),
                            delimiter=delimiter,
                            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE)
        try:
            columns = (list(column_names) if column_names is not None
                       else _header(reader, name, encoding))
            while True:
                with _cycle_collection_paused():
                    rows, row_lines, problems = _rows(reader, columns, encoding,
                                                      rows_per_chunk)
                    # The decoder reads ahead: an escape so far may lie in any chunk from here.
                    if _escapes[0] != escapes_at_start:
                        _locate_invalid_text(rows, columns, encoding, problems)
                    table = Table(name, columns, rows, row_lines, on_bad_row,
                                  report.file(name), problems)
                yield table
                if not rows_per_chunk or len(rows) < rows_per_chunk:
                    return
        except csv.Error as error:
            raise DataError(name, reader.line_num, None, "well-formed delimited text",
                            str(error))


def _header(reader, name: str, encoding: str) -> List[str]:
    header = next(reader, None)
    if not header:
        raise DataError(name, 1, None, "a header row naming the columns", "an empty first line")
    columns = [c.strip() for c in header]
    for column in columns:
        if _ESCAPED_BYTES.search(column):
            raise DataError(name, 1, None, f"valid {encoding} text", _raw(column, encoding))
    repeated = [c for c in columns if columns.count(c) > 1]
    if repeated:
        raise DataError(name, 1, repeated[0], "unique column names", columns)
    return columns


@contextlib.contextmanager
def _cycle_collection_paused():
    """Rows are lists of strings, which make no reference cycles, but making millions
    of them sets off the cycle collector over and over: reading 2.5M interaction rows
    took 24 s with it, 13 s without."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _rows(reader, columns: List[str], encoding: str, limit: int = 0):
    """The next `limit` rows (0: all) padded to the header's width, their first lines,
    and their problems by index."""
    rows, lines, problems = [], [], {}
    width = len(columns)
    next_line = reader.line_num + 1
    for row in reader:
        line, next_line = next_line, reader.line_num + 1
        if not row:  # a blank line holds no row
            continue
        if len(row) != width:
            problems[len(rows)] = (None, "wrong number of fields", f"{width} fields", len(row))
            row = (row + [""] * width)[:width]
        rows.append(row)
        lines.append(line)
        if len(rows) == limit:
            break
    return rows, lines, problems


def _locate_invalid_text(rows: List[List[str]], columns: List[str], encoding: str,
                         problems: Dict[int, Problem]) -> None:
    """Adds each row's first cell holding undecodable bytes to its problems."""
    for index, row in enumerate(rows):
        if index in problems:
            continue
        for column, value in zip(columns, row):
            if _ESCAPED_BYTES.search(value):
                problems[index] = (column, f"invalid {encoding} text",
                                   f"valid {encoding} text", _raw(value, encoding))
                break


def _raw(value: str, encoding: str) -> bytes:
    return value.encode(encoding, errors="surrogateescape")


# --- load_csv: the "csv" dataset ---

_FILE_KEYS = {"path", "columns", "delimiter", "encoding"}
_SPEC_KEYS = {
    "interactions": _FILE_KEYS,
    "items": _FILE_KEYS | {"text_fields", "tag_fields", "numeric_fields"},
    "users": _FILE_KEYS | {"categorical_fields", "numeric_fields"},
}
_MAPPED_COLUMNS = {
    "interactions": (features.USER_ID, features.ITEM_ID, features.RATING, features.TIMESTAMP),
    "items": (features.ITEM_ID,),
    "users": (features.USER_ID,),
}


def load_csv(spec: Mapping[str, Any], base_dir: str = ".", on_bad_row: str = "error",
             name: str = "csv") -> Dataset:
    """Loads CSV files described by `spec`; relative paths are resolved against `base_dir`.

    spec = {"interactions": {"path": ..., "columns": {"user_id": ..., "item_id": ...,
                                                      "timestamp": ..., "rating": ...}},
            "items": {"path": ..., "columns": {"item_id": ...}, "text_fields": [...],
                      "tag_fields": {field: separator} or [...], "numeric_fields": [...]},
            "users": {"path": ..., "columns": {"user_id": ...},
                      "categorical_fields": [...], "numeric_fields": [...]}}
    Only "interactions" is required; "columns" maps contract names to file columns
    (unmapped names are looked up as is); "delimiter" and "encoding" are optional.
    Without an items (users) file, the items (users) are those interacted with.
    """
    contract.check_on_bad_row(on_bad_row)
    _check_spec(spec)
    report = LoadReport()
    item_spec, user_spec = spec.get("items"), spec.get("users")

    items, text_fields, tag_fields, item_numeric = None, (), (), ()
    if item_spec is not None:
        items, text_fields, tag_fields, item_numeric = _load_items(
            item_spec, base_dir, report, on_bad_row)
    users, categorical_fields, user_numeric = None, (), ()
    if user_spec is not None:
        users, categorical_fields, user_numeric = _load_users(
            user_spec, base_dir, report, on_bad_row)

    interactions = _load_interactions(
        spec["interactions"], base_dir, report, on_bad_row,
        known_items=None if items is None else (items[features.ITEM_ID], item_spec["path"]),
        known_users=None if users is None else (users[features.USER_ID], user_spec["path"]))
    if items is None:
        items = contract.items_from_interactions(interactions)
    if users is None:
        users = contract.users_from_interactions(interactions)
    return Dataset(name=name, interactions=interactions, items=items, users=users,
                   item_text_fields=text_fields, item_tag_fields=tag_fields,
                   item_numeric_fields=item_numeric,
                   user_categorical_fields=categorical_fields, user_numeric_fields=user_numeric,
                   report=report)


def _check_spec(spec: Mapping[str, Any]) -> None:
    unknown = set(spec) - set(_SPEC_KEYS)
    if unknown:
        raise ValueError(f"csv dataset: unknown keys {sorted(unknown)}; "
                         f"expected some of {sorted(_SPEC_KEYS)}")
    if "interactions" not in spec:
        raise ValueError("csv dataset: 'interactions' is required")
    for part, file_spec in spec.items():
        unknown = set(file_spec) - _SPEC_KEYS[part]
        if unknown:
            raise ValueError(f"csv dataset, {part}: unknown keys {sorted(unknown)}; "
                             f"expected some of {sorted(_SPEC_KEYS[part])}")
        if "path" not in file_spec:
            raise ValueError(f"csv dataset, {part}: 'path' is required")
        unknown = set(file_spec.get("columns", {})) - set(_MAPPED_COLUMNS[part])
        if unknown:
            raise ValueError(f"csv dataset, {part}.columns: unknown keys {sorted(unknown)}; "
                             f"expected some of {list(_MAPPED_COLUMNS[part])}")


def _open(file_spec: Mapping[str, Any], base_dir: str, report: LoadReport,
          on_bad_row: str) -> Table:
    path = file_spec["path"]
    return read_table(os.path.join(base_dir, path), path, report, on_bad_row,
                      delimiter=file_spec.get("delimiter", ","),
                      encoding=file_spec.get("encoding", "utf-8"))


def _column(file_spec: Mapping[str, Any], name: str) -> str:
    return file_spec.get("columns", {}).get(name, name)


# Interaction rows read at a time: their strings (about 0.5 KB a row) are what
# reading holds; every row kept costs 32 bytes (ids as shared strings, time, rating).
INTERACTION_ROWS_PER_CHUNK = 1_000_000


def _load_interactions(file_spec, base_dir, report, on_bad_row, known_items, known_users):
    path = file_spec["path"]
    chunks = read_table_chunks(os.path.join(base_dir, path), path, report, on_bad_row,
                               delimiter=file_spec.get("delimiter", ","),
                               encoding=file_spec.get("encoding", "utf-8"),
                               rows_per_chunk=INTERACTION_ROWS_PER_CHUNK)
    user_column = _column(file_spec, features.USER_ID)
    item_column = _column(file_spec, features.ITEM_ID)
    rating_column = _column(file_spec, features.RATING)
    shared: Dict[str, str] = {}  # one string object per distinct id, whatever its rows
    parts: Dict[str, List[np.ndarray]] = collections.defaultdict(list)
    for table in chunks:
        has_ratings = (features.RATING in file_spec.get("columns", {})
                       or rating_column in table.columns)
        user_ids, item_ids = table.ids(user_column), table.ids(item_column)
        timestamps = table.integers(_column(file_spec, features.TIMESTAMP),
                                    "an integer timestamp (seconds since the epoch)")
        ratings = table.numbers(rating_column, required=True) if has_ratings else None
        for column, ids, known, personal in ((item_column, item_ids, known_items, False),
                                             (user_column, user_ids, known_users, True)):
            if known is not None:
                table.mark_unknown(column, ids, known[0], known[1], personal=personal)
        keep = table.good_rows()
        for name, ids in ((features.USER_ID, user_ids), (features.ITEM_ID, item_ids)):
            codes, distinct = pd.factorize(ids[keep])
            parts[name].append(np.array([shared.setdefault(i, i) for i in distinct],
                                        dtype=object)[codes])
        parts[features.TIMESTAMP].append(timestamps[keep])
        if has_ratings:
            parts[features.RATING].append(ratings[keep])
    columns = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    return contract.interactions_frame(columns[features.USER_ID], columns[features.ITEM_ID],
                                       columns[features.TIMESTAMP],
                                       columns.get(features.RATING))


def _load_items(file_spec, base_dir, report, on_bad_row):
    table = _open(file_spec, base_dir, report, on_bad_row)
    id_column = _column(file_spec, features.ITEM_ID)
    ids = table.ids(id_column)
    text_fields = tuple(file_spec.get("text_fields", ()))
    tag_spec = file_spec.get("tag_fields", {})
    separators = (dict(tag_spec) if isinstance(tag_spec, Mapping)
                  else {field: _DEFAULT_TAG_SEPARATOR for field in tag_spec})
    numeric_fields = tuple(file_spec.get("numeric_fields", ()))
    columns = {field: table.strings(field) for field in text_fields}
    columns.update({field: table.strings(field) for field in separators})
    columns.update({field: table.numbers(field, required=False) for field in numeric_fields})
    table.mark_duplicates(id_column, ids)
    keep = table.good_rows()

    items = {features.ITEM_ID: ids[keep]}
    items.update({field: columns[field][keep] for field in text_fields})
    items.update({field: [_split_tags(v, sep) for v in columns[field][keep]]
                  for field, sep in separators.items()})
    file_report = report.file(file_spec["path"])
    items.update({field: contract.impute_median(columns[field][keep], field, file_report)
                  for field in numeric_fields})
    return pd.DataFrame(items), text_fields, tuple(separators), numeric_fields


def _load_users(file_spec, base_dir, report, on_bad_row):
    table = _open(file_spec, base_dir, report, on_bad_row)
    id_column = _column(file_spec, features.USER_ID)
    ids = table.ids(id_column)
    categorical_fields = tuple(file_spec.get("categorical_fields", ()))
    numeric_fields = tuple(file_spec.get("numeric_fields", ()))
    columns = {field: table.stripped(field) for field in categorical_fields}
    columns.update({field: table.numbers(field, required=False) for field in numeric_fields})
    table.mark_duplicates(id_column, ids, personal=True)
    keep = table.good_rows()

    users = {features.USER_ID: ids[keep]}
    users.update({field: columns[field][keep] for field in categorical_fields})
    file_report = report.file(file_spec["path"])
    users.update({field: contract.impute_median(columns[field][keep], field, file_report)
                  for field in numeric_fields})
    return pd.DataFrame(users), categorical_fields, numeric_fields


def _split_tags(value: str, separator: str) -> List[str]:
    """The non-empty, stripped tags of one cell."""
    return [tag.strip() for tag in value.split(separator) if tag.strip()]
