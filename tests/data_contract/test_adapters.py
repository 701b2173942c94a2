"""Dataset adapters: the contract, synthetic data, MovieLens 100K, CSV files, bad rows."""
import dataclasses
import pathlib
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from data_contract import adapters, contract, csv_files, movielens, synthetic
from data_contract.errors import ContractError, DataError, DownloadError

CSV_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "csv"
CSV_SPEC = {
    "interactions": {"path": "ratings.csv",
                     "columns": {"user_id": "uid", "item_id": "iid", "rating": "stars",
                                 "timestamp": "ts"}},
    "items": {"path": "products.csv", "columns": {"item_id": "sku"},
              "text_fields": ["title", "description"], "tag_fields": {"categories": "|"},
              "numeric_fields": ["price"]},
    "users": {"path": "customers.csv", "columns": {"user_id": "uid"},
              "categorical_fields": ["segment"], "numeric_fields": ["age"]},
}


@pytest.fixture(scope="module")
def small_synthetic():
    return synthetic.generate(num_users=200, num_items=1000, num_interactions=8000, seed=1)


# --- errors and contract ---

def test_data_error_message_names_file_line_and_field():
    error = DataError("ratings.csv", 17, "rating", "a number", "abc")
    assert str(error) == "ratings.csv, line 17, field 'rating': expected a number, got 'abc'"
    assert (error.file, error.line, error.field) == ("ratings.csv", 17, "rating")
    assert isinstance(error, ValueError)


def _tiny_dataset(**changes):
    parts = dict(
        name="tiny",
        interactions=contract.interactions_frame(["u1", "u1"], ["a", "b"], [1, 2], [4.0, 5.0]),
        items=pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "tags": [["x"], []],
                            "price": [1.0, 2.0]}),
        users=pd.DataFrame({"user_id": ["u1"], "age": [30.0]}),
        item_text_fields=("title",), item_tag_fields=("tags",), item_numeric_fields=("price",),
        user_numeric_fields=("age",))
    parts.update(changes)
    return contract.Dataset(**parts)


def test_valid_dataset_passes_validation():
    dataset = _tiny_dataset()
    assert dataset.has_ratings
    dataset.validate()


@pytest.mark.parametrize("changes, message", [
    (dict(interactions=contract.interactions_frame(["u1"], ["zzz"], [1])),
     "missing from the items"),
    (dict(interactions=contract.interactions_frame(["u9"], ["a"], [1])),
     "missing from the users"),
    (dict(items=pd.DataFrame({"item_id": ["a", "a"], "title": ["A", "B"], "tags": [[], []],
                              "price": [1.0, 2.0]})), "must be unique"),
    (dict(items=pd.DataFrame({"item_id": ["a", ""], "title": ["A", "B"], "tags": [[], []],
                              "price": [1.0, 2.0]})), "empty id"),
    (dict(items=pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "tags": [[], []],
                              "price": [1.0, np.nan]})), "without missing values"),
    (dict(items=pd.DataFrame({"item_id": ["a", "b"], "title": ["A", "B"], "tags": ["x", []],
                              "price": [1.0, 2.0]})), "lists of strings"),
    (dict(interactions=pd.DataFrame({"user_id": ["u1"], "item_id": ["a"],
                                     "timestamp": [1.5]})), "int64"),
    (dict(item_numeric_fields=("price", "title")), "declared twice"),
    (dict(users=pd.DataFrame({"user_id": ["u1"], "id": [30.0]}), user_numeric_fields=("id",)),
     "collide"),
])
def test_contract_violations_are_reported(changes, message):
    with pytest.raises(ContractError, match=message):
        _tiny_dataset(**changes)


# --- synthetic ---

def test_synthetic_default_size_and_ids():
    dataset = synthetic.generate()
    assert len(dataset.users) == 1000 and len(dataset.items) == 2000
    assert len(dataset.interactions) == 100_000
    assert dataset.items.item_id.iloc[42] == "i00042"
    assert dataset.users.user_id.iloc[7] == "u0007"
    assert dataset.interactions.groupby("user_id").size().min() >= 1
    assert not dataset.interactions.duplicated(["user_id", "item_id"]).any()


def test_synthetic_is_deterministic_per_seed(small_synthetic):
    again = synthetic.generate(num_users=200, num_items=1000, num_interactions=8000, seed=1)
    for name in ("interactions", "items", "users"):
        pd.testing.assert_frame_equal(getattr(small_synthetic, name), getattr(again, name))
    other = synthetic.generate(num_users=200, num_items=1000, num_interactions=8000, seed=2)
    assert not small_synthetic.interactions.equals(other.interactions)
    assert not small_synthetic.items.equals(other.items)


def test_synthetic_fields_follow_the_contract(small_synthetic):
    items, users = small_synthetic.items, small_synthetic.users
    assert small_synthetic.item_text_fields == ("title", "description")
    assert items.title.str.split().map(len).between(2, 4).all()
    assert items.description.str.split().map(len).between(15, 30).all()
    assert items.topics.map(len).between(1, 3).all()
    assert users.age.between(16, 75).all()
    assert set(users.gender) == {"F", "M"}
    assert small_synthetic.interactions.rating.between(1, 5).all()
    times = small_synthetic.interactions.timestamp
    assert times.min() >= synthetic.START
    assert times.max() < synthetic.START + synthetic.YEAR_SECONDS
    assert (small_synthetic.interactions.groupby("user_id").timestamp.diff().dropna() >= 0).all()


def test_synthetic_descriptions_use_their_topics_words(small_synthetic):
    own_words = total_words = 0
    for tags, description in zip(small_synthetic.items.topics, small_synthetic.items.description):
        words = description.lower().rstrip(".").split()
        own = {w for tag in tags for w in synthetic.TOPICS[tag]}
        own_words += sum(w in own for w in words)
        total_words += len(words)
    assert own_words / total_words > 0.5  # one topic's words alone would be ~1/20


def test_synthetic_users_concentrate_on_their_topics(small_synthetic):
    """A user's later items share the main topic of their earlier ones far above what
    popularity alone predicts."""
    interactions = small_synthetic.interactions.copy()
    main_topic = dict(zip(small_synthetic.items.item_id, small_synthetic.items.topics.str[0]))
    interactions["topic"] = interactions.item_id.map(main_topic)
    position = interactions.groupby("user_id").cumcount()
    early = interactions[position < interactions.groupby("user_id").user_id.transform("size") / 2]
    late = interactions.drop(early.index)
    favourite = early.groupby("user_id").topic.agg(lambda topics: topics.value_counts().index[0])
    hit_rate = (late.topic == late.user_id.map(favourite)).mean()
    chance = late.user_id.map(favourite).map(early.topic.value_counts(normalize=True)).mean()
    assert hit_rate > 4 * chance


# --- MovieLens 100K ---

@pytest.fixture(scope="module")
def movielens_100k(movielens_dir):
    return movielens.load_100k(str(movielens_dir))


def test_movielens_counts_and_fields(movielens_100k):
    dataset = movielens_100k
    assert len(dataset.users) == 943
    assert len(dataset.items) == 1682
    assert len(dataset.interactions) == 100_000
    toy_story = dataset.items.set_index("item_id").loc["1"]
    assert toy_story.title == "Toy Story (1995)"
    assert toy_story.genres == ["Animation", "Children's", "Comedy"]
    assert toy_story.year == 1995.0
    assert set(dataset.users.columns) == {"user_id", "gender", "occupation", "age"}
    assert set(dataset.interactions.rating) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_movielens_missing_year_is_imputed_and_reported(movielens_100k):
    imputed = movielens_100k.report.files["u.item"].imputed["year"]
    assert imputed.count == 1
    assert movielens_100k.items.set_index("item_id").loc["267", "year"] == imputed.value
    assert "year missing in 1 row" in movielens_100k.report.summary()


def _corrupted_copy(movielens_dir, tmp_path, file_name, line, replacement):
    folder = tmp_path / "ml-100k"
    shutil.copytree(movielens_dir, folder)
    path = folder / file_name
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = replacement
    path.write_bytes(b"\n".join(lines))
    return folder


def test_movielens_bad_rating_is_located_or_skipped(movielens_dir, tmp_path):
    folder = _corrupted_copy(movielens_dir, tmp_path, "u.data", 17, b"196\t242\tabc\t881250949")
    message = r"u\.data, line 17, field 'rating': expected a number, got 'abc'"
    with pytest.raises(DataError, match=message):
        movielens.load_100k(str(folder))
    dataset = movielens.load_100k(str(folder), on_bad_row="skip")
    assert len(dataset.interactions) == 99_999
    assert dataset.report.files["u.data"].skipped == {"unparsable rating": 1}


def test_movielens_download_failure_names_url_and_data_dir(tmp_path):
    url = "http://127.0.0.1:9/ml-100k.zip"
    with pytest.raises(DownloadError) as raised:
        movielens.load_100k(url=url, cache_dir=str(tmp_path))
    assert url in str(raised.value) and "--data-dir DIR" in str(raised.value)


def test_movielens_download_rejects_a_wrong_checksum(tmp_path):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ml-100k/u.data", "1\t1\t5\t0\n")
    with pytest.raises(DownloadError, match="SHA-256"):
        movielens.load_100k(url=archive.as_uri(), cache_dir=str(tmp_path / "cache"))
    assert not (tmp_path / "cache" / "ml-100k").exists()


# --- CSV files ---

def test_csv_mapping_loads_every_file():
    dataset = csv_files.load_csv(CSV_SPEC, base_dir=str(CSV_DIR))
    interactions = dataset.interactions
    assert list(interactions.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert interactions.rating.tolist() == [5.0, 3.0, 4.0, 2.0, 5.0, 4.0, 1.0]
    items = dataset.items.set_index("item_id")
    assert items.loc["B002", "description"] == "Recipes for sourdough,\nrye and flatbread."
    assert items.loc["B003", "categories"] == ["gardening", "nature"]
    assert items.loc["B003", "description"] == ""
    assert items.loc["B004", "title"] == "Café Stories"
    assert items.loc["B003", "price"] == 12.5  # the median of 12.50, 24.00, 9.99
    users = dataset.users.set_index("user_id")
    assert users.loc["bob", "age"] == 28.0
    assert users.loc["carol", "segment"] == "professional"
    assert dataset.report.files["products.csv"].imputed["price"].count == 1
    assert dataset.report.files["customers.csv"].imputed["age"].count == 1


def test_estimated_interactions_come_from_the_spec_or_the_file_lines():
    assert adapters.estimated_interactions({"name": "synthetic"}) == 100_000
    assert adapters.estimated_interactions(
        {"name": "synthetic", "shape": "ml-10m", "scale": 0.1}) == 1_000_005
    assert adapters.estimated_interactions({"name": "movielens-100k"}) == 100_000
    spec = {"name": "csv", "interactions": {"path": str(CSV_DIR / "ratings.csv")}}
    assert adapters.estimated_interactions(spec) == 8  # a header and 7 ratings
    spec["interactions"]["path"] = "gs://bucket/ratings.csv"
    assert adapters.estimated_interactions(spec) is None


def test_interactions_read_in_chunks_are_the_same_and_share_their_id_strings(monkeypatch):
    whole = csv_files.load_csv(CSV_SPEC, base_dir=str(CSV_DIR))
    monkeypatch.setattr(csv_files, "INTERACTION_ROWS_PER_CHUNK", 2)
    chunked = csv_files.load_csv(CSV_SPEC, base_dir=str(CSV_DIR))
    pd.testing.assert_frame_equal(chunked.interactions, whole.interactions)
    assert chunked.report.files["ratings.csv"].rows_read == len(whole.interactions) == 7
    # One string object per distinct id across chunks: rows cost a pointer, not a string.
    for column in ("user_id", "item_id"):
        values = chunked.interactions[column].tolist()
        assert len({id(value) for value in values}) == len(set(values))


def test_csv_without_items_and_users_files_derives_them():
    spec = {"interactions": CSV_SPEC["interactions"]}
    dataset = csv_files.load_csv(spec, base_dir=str(CSV_DIR))
    assert dataset.items.item_id.tolist() == ["B001", "B002", "B003", "B004"]
    assert dataset.users.user_id.tolist() == ["alice", "bob", "carol"]
    assert dataset.item_text_fields == () and list(dataset.items.columns) == ["item_id"]


def test_csv_missing_column_is_named():
    spec = {"interactions": {"path": "ratings.csv",
                             "columns": {"user_id": "uid", "item_id": "iid"}}}
    with pytest.raises(DataError, match=r"ratings.csv, line 1, field 'timestamp'"):
        csv_files.load_csv(spec, base_dir=str(CSV_DIR))


def _write_copy(tmp_path, file_name, line, replacement: bytes):
    """The fixture CSVs in tmp_path, with one line of `file_name` replaced."""
    for source in CSV_DIR.iterdir():
        shutil.copy(source, tmp_path / source.name)
    path = tmp_path / file_name
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = replacement
    path.write_bytes(b"\n".join(lines))


# (file, line, replacement, field, reason); products.csv line 3-4 is one quoted record.
BAD_ROWS = [
    ("ratings.csv", 3, b",B002,3,1600000100", "uid", "missing uid"),
    ("ratings.csv", 5, b"bob,B003,abc,1600000200", "stars", "unparsable stars"),
    ("ratings.csv", 4, b"bob,B001,4,yesterday", "ts", "unparsable ts"),
    ("ratings.csv", 4, b"bob,B001,4,1600000050.5", "ts", "unparsable ts"),
    ("ratings.csv", 6, b"carol,B999,5,1600000300", "iid", "unknown iid"),
    ("ratings.csv", 8, b"alice,B004,1", None, "wrong number of fields"),
    ("products.csv", 5, b"B003,Garden Notes,caf\xe9,gardening,", "description",
     "invalid utf-8 text"),
    ("products.csv", 5, b"B001,Garden Notes,,gardening,", "sku", "duplicate sku"),
    ("products.csv", 6, b"B004,Cafe Stories,Short.,fiction,cheap", "price", "unparsable price"),
    ("customers.csv", 3, b"alice,retired,", "uid", "duplicate uid"),
]


# Interactions are read in chunks: the fixture's 7 ratings in one, and in chunks of 2.
CHUNK_ROWS = [csv_files.INTERACTION_ROWS_PER_CHUNK, 2]


@pytest.mark.parametrize("chunk_rows", CHUNK_ROWS)
@pytest.mark.parametrize("file_name, line, replacement, field, reason", BAD_ROWS)
def test_bad_row_raises_with_file_line_and_field(tmp_path, monkeypatch, file_name, line,
                                                 replacement, field, reason, chunk_rows):
    monkeypatch.setattr(csv_files, "INTERACTION_ROWS_PER_CHUNK", chunk_rows)
    _write_copy(tmp_path, file_name, line, replacement)
    with pytest.raises(DataError) as raised:
        csv_files.load_csv(CSV_SPEC, base_dir=str(tmp_path))
    assert (raised.value.file, raised.value.line, raised.value.field) == (file_name, line, field)


@pytest.mark.parametrize("chunk_rows", CHUNK_ROWS)
@pytest.mark.parametrize("file_name, line, replacement, field, reason", BAD_ROWS)
def test_bad_row_is_counted_when_skipped(tmp_path, monkeypatch, file_name, line, replacement,
                                         field, reason, chunk_rows):
    monkeypatch.setattr(csv_files, "INTERACTION_ROWS_PER_CHUNK", chunk_rows)
    _write_copy(tmp_path, file_name, line, replacement)
    dataset = csv_files.load_csv(CSV_SPEC, base_dir=str(tmp_path), on_bad_row="skip")
    report = dataset.report.files[file_name]
    assert report.skipped == {reason: 1}
    assert reason in dataset.report.summary()
    read = dataset.report.files
    kept = {"ratings.csv": dataset.interactions, "products.csv": dataset.items,
            "customers.csv": dataset.users}[file_name]
    # Nothing vanishes unaccounted: what was read is what was kept plus what was skipped,
    # and interactions lose only rows naming a skipped item or user.
    assert read[file_name].rows_read == len(kept) + report.rows_skipped
    lost = read["ratings.csv"].rows_read - len(dataset.interactions)
    assert lost == read["ratings.csv"].rows_skipped


def test_skipping_an_item_skips_its_interactions_visibly(tmp_path):
    _write_copy(tmp_path, "products.csv", 5, b",Garden Notes,,gardening,")
    dataset = csv_files.load_csv(CSV_SPEC, base_dir=str(tmp_path), on_bad_row="skip")
    assert dataset.report.files["products.csv"].skipped == {"missing sku": 1}
    assert dataset.report.files["ratings.csv"].skipped == {"unknown iid": 1}
    assert "B003" not in set(dataset.interactions.item_id)


def test_unknown_spec_keys_are_rejected():
    with pytest.raises(ValueError, match="text_field"):
        csv_files.load_csv({"interactions": CSV_SPEC["interactions"],
                            "items": {"path": "products.csv", "text_field": ["title"]}},
                           base_dir=str(CSV_DIR))


# --- adapters by name ---

def test_adapters_loads_each_kind(movielens_dir):
    small = adapters.load_dataset({"name": "synthetic", "num_users": 20, "num_items": 50,
                                   "num_interactions": 300, "seed": 3})
    assert len(small.interactions) == 300
    from_csv = adapters.load_dataset({"name": "csv", **CSV_SPEC}, base_dir=str(CSV_DIR))
    assert len(from_csv.items) == 4
    relative = adapters.load_dataset({"name": "movielens-100k", "data_dir": movielens_dir.name},
                                     base_dir=str(movielens_dir.parent))
    assert relative.name == "movielens-100k"


def test_adapters_rejects_unknown_names_and_options():
    with pytest.raises(ValueError, match="synthetic, movielens-100k, csv"):
        adapters.load_dataset({"name": "movielens-1b"})
    with pytest.raises(ValueError, match="num_user"):
        adapters.load_dataset({"name": "synthetic", "num_user": 3})
    with pytest.raises(ValueError, match="on_bad_row"):
        adapters.load_dataset({"name": "synthetic", "on_bad_row": "ignore"})


def test_dataset_is_frozen(small_synthetic):
    with pytest.raises(dataclasses.FrozenInstanceError):
        small_synthetic.name = "other"


@pytest.mark.parametrize("file_name, line, replacement", [
    ("ratings.csv", 6, b"mallory,B001,5,1600000300"),   # a user the users file does not list
    ("customers.csv", 3, b"alice,retired,"),            # a user listed twice
])
def test_a_bad_rows_error_locates_a_user_id_without_repeating_it(tmp_path, file_name, line, replacement):
    _write_copy(tmp_path, file_name, line, replacement)
    with pytest.raises(DataError) as raised:
        csv_files.load_csv(CSV_SPEC, base_dir=str(tmp_path))
    assert (raised.value.file, raised.value.line, raised.value.field) == (file_name, line, "uid")
    message = str(raised.value)
    assert "a user id (not shown; see that line)" in message
    assert replacement.split(b",")[0].decode() not in message
