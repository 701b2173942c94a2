"""`unirec audit`: looks for raw user ids, and for forgotten users, in everything a run wrote.

Every file under the output folder (pipeline root, ML Metadata store, serving
folder) and any extra file or folder named (logs, reports) is read, gzip members
decompressed, with two checks:

- a byte search for every raw user id distinctive enough to find that way (at
  least 4 characters with a letter, e.g. the synthetic `u0001`), and for every
  pseudonym on the erasure list in what was written after the list last changed;
- a structured check of every place that holds user ids by design, which also
  covers ids like MovieLens' 1..943 that a byte search would find everywhere:
  the `user_id` feature of tf.Examples, the `user_id` top values of statistics,
  `user_id` vocabularies, the warmup requests and the evaluation's
  recommendations file. Each value there must be a pseudonym (or the empty id of
  the warmup's unknown user).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import os
import re
import sys
import warnings
from typing import FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from data_contract import pseudonyms

USER_ID = "user_id"
RECOMMENDATIONS_FILE = "recommendations.csv"
WARMUP_FILE_NAME = "tf_serving_warmup_requests"
STATISTICS_FILE = "FeatureStats.pb"
MLMD_SUFFIX = ".db"


@dataclasses.dataclass(frozen=True)
class Finding:
    path: str
    what: str   # never the raw id itself: the audit's own output must not leak it


@dataclasses.dataclass
class AuditReport:
    files: int = 0
    bytes_read: int = 0
    structured_values: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    searchable_ids: int = 0
    structured_only_ids: int = 0
    findings: List[Finding] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        checked = ", ".join(f"{n} in {kind}" for kind, n in sorted(self.structured_values.items()))
        lines = [f"Read {self.files} files ({self.bytes_read / 1e6:.1f} MB, gzip decompressed); "
                 f"{self.searchable_ids} raw user ids searched byte for byte, "
                 f"{self.structured_only_ids} too short or numeric for that (structured check only).",
                 f"User-id values checked: {checked or 'none'}."]
        if self.clean:
            lines.append("No raw user id and no forgotten user's pseudonym found.")
        else:
            lines.append(f"{len(self.findings)} findings:")
            lines += [f"  {finding.path}: {finding.what}" for finding in self.findings]
        return "\n".join(lines)


def _byte_searchable(raw_id: str) -> bool:
    return len(raw_id) >= 4 and any(c.isalpha() for c in raw_id)


def _shape(raw_id: str) -> str:
    """A regex for ids shaped like this one: letters and digits by class, the rest literal."""
    parts = []
    for char in raw_id:
        if char.isascii() and char.isdigit():
            parts.append("[0-9]")
        elif char.isascii() and char.isalpha():
            parts.append("[A-Za-z]")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


class IdSearch:
    """Finds any of a set of strings in bytes: a regex of their shapes, then a set lookup
    (one pass per file however many ids there are)."""

    def __init__(self, ids: Iterable[str]):
        self.ids = {i.encode("utf-8") for i in ids}
        shapes = sorted({_shape(i.decode("utf-8")) for i in self.ids}, key=len, reverse=True)
        # After a backslash it is an escape, not an id: pickle and JSON write the NUL
        # byte as \u0000, which the synthetic id u0000 would match.
        self._pattern = (re.compile((r"(?<!\\)(?:" + "|".join(shapes) + ")").encode("utf-8"))
                         if shapes else None)

    def count(self, data: bytes) -> int:
        if self._pattern is None:
            return 0
        return sum(1 for match in self._pattern.finditer(data) if match.group() in self.ids)


def _files(paths: Sequence[str], skip: FrozenSet[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isfile(path):
            yield path
        for root, _, names in os.walk(path):
            for name in sorted(names):
                if os.path.abspath(os.path.join(root, name)) not in skip:
                    yield os.path.join(root, name)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def _tfrecords(data: bytes) -> Optional[List[bytes]]:
    """The records of TFRecord data, or None if it is not TFRecord data."""
    import struct

    records, offset = [], 0
    while offset < len(data):
        if offset + 12 > len(data):
            return None
        (length,) = struct.unpack_from("<Q", data, offset)
        end = offset + 12 + length + 4
        if end > len(data):
            return None
        records.append(data[offset + 12:offset + 12 + length])
        offset = end
    return records


def _example_user_ids(records: List[bytes]) -> Optional[List[str]]:
    import tensorflow as tf

    values = []
    for record in records:
        try:
            with warnings.catch_warnings():
                # Other protos parse as an Example "with a warning": they are not Examples.
                warnings.simplefilter("error", RuntimeWarning)
                example = tf.train.Example.FromString(record)
        except Exception:  # noqa: BLE001 - not tf.Examples
            return None
        feature = example.features.feature.get(USER_ID)
        if feature is not None:
            values += [v.decode("utf-8", "replace") for v in feature.bytes_list.value]
    return values


def _warmup_user_ids(records: List[bytes]) -> List[str]:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    values = []
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        for name, proto in request.inputs.items():
            array = tf.make_ndarray(proto)
            if name == USER_ID:
                values += [v.decode("utf-8", "replace") for v in array.ravel()]
            elif array.dtype == object and array.ndim == 1:   # serialized tf.Examples
                parsed = _example_user_ids(list(array))
                values += parsed or []
    return values


def _statistics_user_ids(data: bytes) -> List[str]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    statistics = statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
    values = []
    for dataset in statistics.datasets:
        for feature in dataset.features:
            name = feature.path.step[-1] if feature.path.step else feature.name
            if name != USER_ID:
                continue
            string_stats = feature.string_stats
            values += [top.value for top in string_stats.top_values]
            values += [bucket.label for bucket in string_stats.rank_histogram.buckets]
    return values


def _vocabulary_entries(data: bytes) -> List[str]:
    # TFT writes one token a line, or "count token" with frequencies.
    return [line.split(" ")[-1] for line in data.decode("utf-8", "replace").splitlines() if line]


def structured_user_ids(path: str, data: bytes) -> Optional[Tuple[str, List[str]]]:
    """(what kind of file, its user-id values) for files that hold user ids by design."""
    name = os.path.basename(path)
    if name == USER_ID and os.path.basename(os.path.dirname(path)) == "assets":
        return "vocabularies", _vocabulary_entries(data)
    if name == STATISTICS_FILE:
        return "statistics", _statistics_user_ids(data)
    if name == RECOMMENDATIONS_FILE:
        return "recommendations", [line.split(",", 1)[0] for line in
                                   data.decode("utf-8", "replace").splitlines() if line]
    if name == WARMUP_FILE_NAME:
        return "warmup requests", _warmup_user_ids(_tfrecords(data) or [])
    if "tfrecord" in name:
        records = _tfrecords(data)
        values = _example_user_ids(records) if records is not None else None
        if values is not None:
            return "examples", values
    return None


def audit(paths: Sequence[str], raw_user_ids: Iterable[str], erased: FrozenSet[str] = frozenset(),
          erased_since: float = 0.0, erasure_list: str = "") -> AuditReport:
    """Reads every file under `paths` but the `erasure_list` itself; a finding is a raw user
    id anywhere, a user-id value that is not a pseudonym, or an erased pseudonym in ML
    Metadata or in a file written after `erased_since` (the erasure list's last change)."""
    raw = set(raw_user_ids)
    report = AuditReport()
    searchable = [i for i in raw if _byte_searchable(i)]
    report.searchable_ids, report.structured_only_ids = len(searchable), len(raw) - len(searchable)
    raw_search, erased_search = IdSearch(searchable), IdSearch(erased)
    skip = frozenset([os.path.abspath(erasure_list)] if erasure_list else [])
    for path in _files(paths, skip):
        data = _read(path)
        report.files += 1
        report.bytes_read += len(data)
        hits = raw_search.count(data)
        if hits:
            report.findings.append(Finding(path, f"{hits} occurrences of raw user ids"))
        if erased and (path.endswith(MLMD_SUFFIX) or os.path.getmtime(path) > erased_since):
            hits = erased_search.count(data)
            if hits:
                report.findings.append(Finding(path, f"{hits} occurrences of forgotten users' pseudonyms"))
        structured = structured_user_ids(path, data)
        if structured is None:
            continue
        kind, values = structured
        report.structured_values[kind] += len(values)
        raw_values = sum(1 for value in values if value in raw)
        if raw_values:
            report.findings.append(Finding(path, f"{raw_values} {kind} user-id values are raw user ids"))
        other = sum(1 for value in values if value not in raw and value
                    and not pseudonyms.is_pseudonym(value))
        if other:
            report.findings.append(Finding(path, f"{other} {kind} user-id values are not pseudonyms"))
    return report


def raw_user_ids_of(config) -> Set[str]:
    """The raw user ids of the config's dataset and of its split files."""
    from components.example_gen import external_split
    from data_contract import adapters
    from models import features

    dataset = adapters.load_dataset(config.dataset)
    ids = set(dataset.users[features.USER_ID]) | set(dataset.interactions[features.USER_ID])
    split = config.examples.split
    if split.method == "files":
        split_dataset, _ = external_split.load(dataset, split.train_file, split.test_file)
        ids |= set(split_dataset.interactions[features.USER_ID])
    return ids


def run_audit(config, extra_paths: Sequence[str] = ()) -> AuditReport:
    """Audits the config's output folder (and `extra_paths`) against its dataset."""
    erased, _ = pseudonyms.read_erased(config.erased_users_path)
    erased_since = (os.path.getmtime(config.erased_users_path)
                    if os.path.exists(config.erased_users_path) else 0.0)
    return audit([config.output_dir, *extra_paths], raw_user_ids_of(config), erased, erased_since,
                 erasure_list=config.erased_users_path)


def main(args: argparse.Namespace) -> int:
    from pipeline import cli

    try:
        config = cli.load_run_config(args)
    except ValueError as e:
        print(f"unirec: {e}", file=sys.stderr)
        return 2
    report = run_audit(config, args.also or [])
    print(report.summary())
    return 0 if report.clean else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--also", action="append", metavar="PATH",
                        help="another file or folder to read, e.g. a run's log (repeatable)")

