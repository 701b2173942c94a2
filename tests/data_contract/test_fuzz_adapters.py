"""Fuzzing the file adapters: any bytes in a CSV or MovieLens file load, or fail with a named error.

Seeded (see tests/conftest.py) so a failing case replays; UNIREC_FUZZ_EXAMPLES raises the count.
"""
from __future__ import annotations

import codecs
import pathlib
import shutil

from hypothesis import event, given
from hypothesis import strategies as st

from data_contract import csv_files, movielens
from data_contract.errors import ContractError, DataError
from fuzz_support import hostile_text, no_hang, numbers_as_text

NAMED_ERRORS = (DataError, ContractError)
COLUMNS = ("uid", "iid", "stars", "ts")
SPEC = {"interactions": {"path": "ratings.csv",
                         "columns": {"user_id": "uid", "item_id": "iid", "rating": "stars", "timestamp": "ts"}},
        "items": {"path": "products.csv", "columns": {"item_id": "sku"}, "text_fields": ["title"],
                  "tag_fields": {"categories": "|"}, "numeric_fields": ["price"]}}
ids = st.one_of(st.sampled_from(["alice", "bob", "B001", "B002", "", " ", "ß", "İ", "é", "e\u0301", "🙂", "a,b"]),
                hostile_text)


@st.composite
def rows(draw, columns, cell_for):
    header = draw(st.one_of(st.just(list(columns)), st.permutations(columns).map(list),
                            st.lists(st.sampled_from(list(columns) + ["extra", ""]), max_size=6)))
    body = draw(st.lists(st.lists(st.one_of(*(cell_for(c) for c in header)) if header else hostile_text,
                                  min_size=0, max_size=len(header) + 2), max_size=12))
    return [header] + body


def _cell(column: str):
    if column in ("stars", "ts", "price"):
        return numbers_as_text
    if column in ("uid", "iid", "sku"):
        return ids
    return hostile_text


def _plausible_cell(column: str):
    """Values a real export holds, so that some files load and the later checks run too."""
    if column == "ts":
        return st.integers(0, 2**31).map(str)
    if column in ("stars", "price"):
        return st.sampled_from(["1", "2", "3", "4", "5", "4.5", "0.99"])
    if column in ("uid", "iid", "sku"):
        return st.sampled_from(["alice", "bob", "B001", "B002", "ß", "🙂"])
    return st.text(max_size=10)


@st.composite
def plausible_rows(draw, columns):
    """A real header and well-formed rows, at most one cell replaced by a hostile one."""
    header = draw(st.permutations(columns).map(list))
    body = draw(st.lists(st.tuples(*(_plausible_cell(c) for c in header)).map(list), min_size=1, max_size=12))
    if draw(st.integers(0, 2)) == 0:
        row, column = draw(st.integers(0, len(body) - 1)), draw(st.integers(0, len(header) - 1))
        body[row][column] = draw(st.one_of(_cell(header[column]), hostile_text))
    return [header] + body


@st.composite
def csv_bytes(draw, columns, plausible: bool):
    """Delimited text with the quirks of real exports, or plain random bytes."""
    if not plausible and draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    table = draw(plausible_rows(columns) if plausible else rows(columns, _cell))
    quote = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))

    def field(value: str) -> str:
        if quote or any(ch in value for ch in ',"\r\n'):
            return '"' + value.replace('"', draw(st.sampled_from(['""', '"']))) + '"'
        return value

    text = newline.join(",".join(field(value) for value in row) for row in table)
    if draw(st.booleans()):
        text += newline
    if draw(st.integers(0, 19)) == 0:
        text += "x" * draw(st.integers(100_000, 2_000_000))  # a huge field
    encoded = text.encode("utf-8", errors="surrogatepass")
    prefix = draw(st.sampled_from([b"", codecs.BOM_UTF8] + ([] if plausible else [codecs.BOM_UTF16_LE])))
    return prefix + encoded


@st.composite
def csv_pair(draw):
    """The ratings and products files, both plausible (so that a share of them load) or both hostile."""
    plausible = draw(st.booleans())
    return draw(csv_bytes(COLUMNS, plausible)), draw(csv_bytes(("sku", "title", "categories", "price"), plausible))


def _load_csv(folder: pathlib.Path, on_bad_row: str) -> None:
    try:
        with no_hang(30):
            dataset = csv_files.load_csv(SPEC, base_dir=str(folder), on_bad_row=on_bad_row)
            dataset.validate()
        event(f"loaded {len(dataset.interactions)} interactions" if len(dataset.interactions) < 2 else "loaded")
    except NAMED_ERRORS as error:
        assert str(error)  # the message names the file, line and field
        event(type(error).__name__)


@given(files=csv_pair(), on_bad_row=st.sampled_from(["error", "skip"]))
def test_csv_adapter_loads_or_names_the_bad_row(tmp_path, files, on_bad_row):
    ratings, products = files
    (tmp_path / "ratings.csv").write_bytes(ratings)
    (tmp_path / "products.csv").write_bytes(products)
    _load_csv(tmp_path, on_bad_row)


REAL_ML = {"u.genre": b"unknown|0\nAction|1\n",
           "u.item": b"1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n2|GoldenEye (1995)|01-Jan-1995||http://y|1|0\n",
           "u.user": b"1|24|M|technician|85711\n2|53|F|other|94043\n",
           "u.data": b"1\t1\t5\t874965758\n2\t2\t3\t876893171\n1\t2\t4\t878542960\n"}


@st.composite
def movielens_files(draw):
    """The four MovieLens files, one or more of them mangled."""
    files = dict(REAL_ML)
    for name in draw(st.sets(st.sampled_from(sorted(REAL_ML)), min_size=1)):
        original = REAL_ML[name]
        files[name] = draw(st.one_of(
            st.binary(max_size=200),
            st.builds(lambda cut, junk: original[:cut] + junk + original[cut:],
                      st.integers(0, len(original)), st.binary(max_size=20)),
            st.lists(st.lists(st.one_of(numbers_as_text, hostile_text), max_size=8), max_size=6).map(
                lambda table, sep="\t" if name == "u.data" else "|": "\n".join(
                    sep.join(row) for row in table).encode("utf-8", errors="surrogatepass")),
        ))
    return files


@given(files=movielens_files(), on_bad_row=st.sampled_from(["error", "skip"]))
def test_movielens_adapter_loads_or_names_the_bad_row(tmp_path, files, on_bad_row):
    folder = tmp_path / "ml"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    try:
        with no_hang(30):
            movielens.load_100k(str(folder), on_bad_row=on_bad_row).validate()
        event("loaded")
    except NAMED_ERRORS as error:
        assert str(error)
        event(type(error).__name__)


def test_an_empty_file_is_named(tmp_path):
    (tmp_path / "ratings.csv").write_bytes(b"")
    (tmp_path / "products.csv").write_bytes(b"sku\n")
    try:
        csv_files.load_csv(SPEC, base_dir=str(tmp_path))
    except DataError as error:
        assert error.file in ("ratings.csv", "products.csv") and error.line == 1
    else:
        raise AssertionError("an empty ratings file loaded")


def test_timestamps_beyond_int64_are_bad_rows(tmp_path):
    (tmp_path / "ratings.csv").write_text("uid,iid,stars,ts\nalice,B001,5," + "9" * 40 + "\n")
    try:
        csv_files.load_csv({"interactions": SPEC["interactions"]}, base_dir=str(tmp_path))
    except DataError as error:
        assert (error.file, error.line, error.field) == ("ratings.csv", 2, "ts")
    else:
        raise AssertionError("a 40-digit timestamp loaded")
