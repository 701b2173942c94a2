"""The data contract every dataset adapter produces, and its load report.

interactions: user_id (str), item_id (str), timestamp (int64 seconds), and
rating (float64) when the dataset has ratings.
items: item_id (str), one str column per text field, one list[str] column per
tag field, one float64 column per numeric field.
users: user_id (str), one str column per categorical field, one float64 column
per numeric field.

Empty text, tags and categories are ordinary values ("", [], ""). A missing
number is replaced by the column median, and the report counts it.
"""
import dataclasses
from collections import Counter
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

from data_contract.errors import ContractError
from models import features

ON_BAD_ROW_CHOICES = ("error", "skip")


def check_on_bad_row(on_bad_row: str) -> None:
    if on_bad_row not in ON_BAD_ROW_CHOICES:
        raise ValueError(f"on_bad_row must be one of {ON_BAD_ROW_CHOICES}, got {on_bad_row!r}")


@dataclasses.dataclass
class Imputation:
    count: int
    value: float


@dataclasses.dataclass
class FileReport:
    """What loading one file did: rows read, rows skipped by reason, values imputed by field."""
    rows_read: int = 0
    skipped: Counter = dataclasses.field(default_factory=Counter)
    imputed: Dict[str, Imputation] = dataclasses.field(default_factory=dict)

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())


@dataclasses.dataclass
class LoadReport:
    """Per source file, what the adapter read, skipped and imputed."""
    files: Dict[str, FileReport] = dataclasses.field(default_factory=dict)

    def file(self, name: str) -> FileReport:
        return self.files.setdefault(name, FileReport())

    def summary(self) -> str:
        if not self.files:
            return "generated in memory, no files read"
        parts = []
        for name, report in self.files.items():
            text = f"{name}: {report.rows_read} rows read, {report.rows_skipped} skipped"
            if report.skipped:
                text += " (" + ", ".join(f"{reason}: {n}" for reason, n in
                                         sorted(report.skipped.items())) + ")"
            for field, imputation in report.imputed.items():
                rows = "row" if imputation.count == 1 else "rows"
                text += (f"; {field} missing in {imputation.count} {rows},"
                         f" imputed with the median {imputation.value:g}")
            parts.append(text)
        return "\n".join(parts)


def impute_median(values: np.ndarray, field: str, report: FileReport) -> np.ndarray:
    """Replaces NaNs by the median of the other values (0 if none) and records it."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return values
    present = values[~missing]
    median = float(np.median(present)) if present.size else 0.0
    report.imputed[field] = Imputation(count=int(missing.sum()), value=median)
    return np.where(missing, median, values)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset in the data contract. Construction validates it."""
    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    item_text_fields: Tuple[str, ...] = ()
    item_tag_fields: Tuple[str, ...] = ()
    item_numeric_fields: Tuple[str, ...] = ()
    user_categorical_fields: Tuple[str, ...] = ()
    user_numeric_fields: Tuple[str, ...] = ()
    report: LoadReport = dataclasses.field(default_factory=LoadReport)

    def __post_init__(self):
        for name in ("item_text_fields", "item_tag_fields", "item_numeric_fields",
                     "user_categorical_fields", "user_numeric_fields"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self.validate()

    @property
    def has_ratings(self) -> bool:
        return features.RATING in self.interactions.columns

    def validate(self) -> None:
        """Raises ContractError naming the first broken rule."""
        self._check_field_names()
        self._check_interactions()
        self._check_table("items", self.items, features.ITEM_ID,
                          str_columns=self.item_text_fields, list_columns=self.item_tag_fields,
                          float_columns=self.item_numeric_fields)
        self._check_table("users", self.users, features.USER_ID,
                          str_columns=self.user_categorical_fields, list_columns=(),
                          float_columns=self.user_numeric_fields)
        self._check_references(features.ITEM_ID, self.items)
        self._check_references(features.USER_ID, self.users)

    def _fail(self, message: str) -> None:
        raise ContractError(f"Dataset {self.name!r}: {message}")

    def _check_field_names(self) -> None:
        item_fields = self.item_text_fields + self.item_tag_fields + self.item_numeric_fields
        user_fields = self.user_categorical_fields + self.user_numeric_fields
        for kind, fields in (("item", item_fields), ("user", user_fields)):
            repeated = [f for f, n in Counter(fields).items() if n > 1]
            if repeated:
                self._fail(f"{kind} field {repeated[0]!r} is declared twice")
        for field in self.item_numeric_fields:
            if not features.is_item_numeric_feature(features.item_numeric_feature_name(field)):
                self._fail(f"item numeric field {field!r} would collide with the feature "
                           f"{features.item_numeric_feature_name(field)!r}; rename it")
        for field in user_fields:
            if not features.is_user_feature(features.user_feature_name(field)):
                self._fail(f"user field {field!r} would collide with the feature "
                           f"{features.user_feature_name(field)!r}; rename it")

    def _check_interactions(self) -> None:
        frame = self.interactions
        expected = [features.USER_ID, features.ITEM_ID, features.TIMESTAMP]
        allowed = set(expected) | {features.RATING}
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in allowed]
        if missing or extra:
            self._fail(f"interactions must have columns {expected} (+ optional "
                       f"{features.RATING!r}); missing {missing}, unexpected {extra}")
        if frame.empty:
            self._fail(f"has no interactions; load report: {self.report.summary()}")
        for column in (features.USER_ID, features.ITEM_ID):
            self._check_ids("interactions", frame[column])
        if frame[features.TIMESTAMP].dtype != np.int64:
            self._fail(f"interactions.timestamp must be int64, "
                       f"is {frame[features.TIMESTAMP].dtype}")
        if self.has_ratings:
            ratings = frame[features.RATING]
            if ratings.dtype != np.float64 or ratings.isna().any():
                self._fail("interactions.rating must be float64 without missing values")

    def _check_table(self, table: str, frame: pd.DataFrame, id_column: str,
                     str_columns: Tuple[str, ...], list_columns: Tuple[str, ...],
                     float_columns: Tuple[str, ...]) -> None:
        expected = [id_column, *str_columns, *list_columns, *float_columns]
        if sorted(frame.columns) != sorted(expected):
            self._fail(f"{table} must have exactly the columns {expected}, "
                       f"has {list(frame.columns)}")
        ids = frame[id_column]
        self._check_ids(table, ids)
        duplicated = ids[ids.duplicated()]
        if len(duplicated):
            example = (f"row {duplicated.index[0]}" if id_column == features.USER_ID
                       else repr(duplicated.iloc[0]))  # user ids are not repeated in errors
            self._fail(f"{table}.{id_column} must be unique; {example} repeats")
        for column in str_columns:
            if not frame[column].map(type).eq(str).all():
                self._fail(f"{table}.{column} must hold strings only")
        for column in list_columns:
            if not frame[column].map(_is_list_of_str).all():
                self._fail(f"{table}.{column} must hold lists of strings only")
        for column in float_columns:
            if frame[column].dtype != np.float64 or frame[column].isna().any():
                self._fail(f"{table}.{column} must be float64 without missing values")

    def _check_ids(self, table: str, ids: pd.Series) -> None:
        if not ids.map(type).eq(str).all():
            self._fail(f"{table}.{ids.name} must hold strings only")
        if ids.eq("").any():
            self._fail(f"{table}.{ids.name} has an empty id")

    def _check_references(self, id_column: str, table: pd.DataFrame) -> None:
        unknown = ~self.interactions[id_column].isin(table[id_column])
        if unknown.any():
            example = (f"row {unknown.idxmax()}" if id_column == features.USER_ID  # not the id
                       else repr(self.interactions.loc[unknown, id_column].iloc[0]))
            self._fail(f"{int(unknown.sum())} interactions refer to a {id_column} missing from "
                       f"the {'items' if id_column == features.ITEM_ID else 'users'} table, "
                       f"e.g. {example}")


def _is_list_of_str(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def items_from_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """An items table without features, listing every interacted item."""
    return pd.DataFrame({features.ITEM_ID: sorted(interactions[features.ITEM_ID].unique())})


def users_from_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """A users table without features, listing every interacting user."""
    return pd.DataFrame({features.USER_ID: sorted(interactions[features.USER_ID].unique())})


def interactions_frame(user_ids, item_ids, timestamps,
                       ratings: Optional[np.ndarray] = None) -> pd.DataFrame:
    """Interactions with the contract's dtypes. The frame holds the arrays it is given
    where their dtype already fits (no copy): pass arrays nobody else writes to."""
    columns = {
        features.USER_ID: np.asarray(user_ids, dtype=object),
        features.ITEM_ID: np.asarray(item_ids, dtype=object),
        features.TIMESTAMP: np.asarray(timestamps, dtype=np.int64),
    }
    if ratings is not None:
        columns[features.RATING] = np.asarray(ratings, dtype=np.float64)
    return pd.DataFrame(columns, copy=False)
