"""Example generation: splits, history without leakage, features, tf.Example encoding."""
import dataclasses
import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from components.example_gen import encoding, examples
from components.example_gen.split_config import SplitConfig
from data_contract import csv_files, synthetic
from models import features

CSV_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "csv"
HISTORY_LENGTH = 4


@pytest.fixture(scope="module")
def dataset():
    """A small synthetic dataset with timestamps coarsened to days, so that ties occur."""
    generated = synthetic.generate(num_users=60, num_items=300, num_interactions=2400, seed=5)
    interactions = generated.interactions.copy()
    interactions[features.TIMESTAMP] = interactions[features.TIMESTAMP] // 86400 * 86400
    return dataclasses.replace(generated, interactions=interactions)


SPLITS = [SplitConfig(), SplitConfig(method="random", seed=7),
          SplitConfig(method="random", seed=3, holdout_item_fraction=0.1),
          SplitConfig(eval_fraction=0.5, holdout_item_fraction=0.2)]


@pytest.fixture(scope="module", params=SPLITS,
                ids=lambda s: f"{s.method}-holdout{s.holdout_item_fraction}")
def built(request, dataset):
    return request.param, examples.build_examples(dataset, request.param, HISTORY_LENGTH)


def _by_user(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(row[features.USER_ID], []).append(row)
    return grouped


def test_split_sizes_per_user(dataset, built):
    split, result = built
    holdout = set(result.info.holdout_item_ids)
    assert len(holdout) == round(split.holdout_item_fraction * len(dataset.items))
    train = _by_user(result.splits[features.TRAIN_SPLIT])
    evaluation = _by_user(result.splits[features.EVAL_SPLIT])
    for user, user_train in train.items():
        split_eval = [r for r in evaluation.get(user, []) if r[features.ITEM_ID] not in holdout]
        total = len(user_train) + len(split_eval)
        expected = min(math.floor(split.eval_fraction * total), total - 1)
        assert len(split_eval) == expected, user
    total_rows = len(result.splits[features.TRAIN_SPLIT]) + len(result.splits[features.EVAL_SPLIT])
    assert total_rows == len(dataset.interactions)


def test_temporal_eval_follows_train(dataset):
    result = examples.build_examples(dataset, SplitConfig(holdout_item_fraction=0.1))
    holdout = set(result.info.holdout_item_ids)
    train = _by_user(result.splits[features.TRAIN_SPLIT])
    for row in result.splits[features.EVAL_SPLIT]:
        if row[features.ITEM_ID] not in holdout:
            latest_train = max(r[features.TIMESTAMP] for r in train[row[features.USER_ID]])
            assert row[features.TIMESTAMP] >= latest_train


def test_holdout_items_never_in_train(built):
    _, result = built
    holdout = set(result.info.holdout_item_ids)
    for row in result.splits[features.TRAIN_SPLIT]:
        assert row[features.ITEM_ID] not in holdout
        assert not holdout & set(row[features.HISTORY_ITEM_IDS])


def test_history_is_earlier_train_items_most_recent_first(dataset, built):
    """Checked against a direct computation: train interactions of the user strictly
    earlier in time, equal timestamps ordered as in the source."""
    _, result = built
    train_rows = result.splits[features.TRAIN_SPLIT]
    train_keys = {(r[features.USER_ID], r[features.ITEM_ID], r[features.TIMESTAMP])
                  for r in train_rows}
    by_user = {}
    for position, (user, item, timestamp) in enumerate(zip(
            dataset.interactions.user_id, dataset.interactions.item_id,
            dataset.interactions.timestamp)):
        if (user, item, timestamp) in train_keys:
            by_user.setdefault(user, []).append((timestamp, position, item))
    for row in train_rows + result.splits[features.EVAL_SPLIT]:
        earlier = sorted(e for e in by_user.get(row[features.USER_ID], [])
                         if e[0] < row[features.TIMESTAMP])
        expected = [item for _, _, item in reversed(earlier)][:HISTORY_LENGTH]
        assert row[features.HISTORY_ITEM_IDS] == expected


def test_history_never_holds_eval_or_later_items(built):
    _, result = built
    train_times = {(r[features.USER_ID], r[features.ITEM_ID]): r[features.TIMESTAMP]
                   for r in result.splits[features.TRAIN_SPLIT]}
    eval_items = {(r[features.USER_ID], r[features.ITEM_ID])
                  for r in result.splits[features.EVAL_SPLIT]}
    for row in result.splits[features.TRAIN_SPLIT] + result.splits[features.EVAL_SPLIT]:
        for item in row[features.HISTORY_ITEM_IDS]:
            key = (row[features.USER_ID], item)
            assert key not in eval_items
            assert train_times[key] < row[features.TIMESTAMP]


def test_users_split_holds_each_users_whole_training_history(built):
    """The retrieval query: every train item of the user, most recent first; no eval item."""
    _, result = built
    train = _by_user(result.splits[features.TRAIN_SPLIT])
    eval_keys = {(r[features.USER_ID], r[features.ITEM_ID])
                 for r in result.splits[features.EVAL_SPLIT]}
    users = result.splits[features.USERS_SPLIT]
    assert sorted(r[features.USER_ID] for r in users) == sorted(train)
    for row in users:
        user_train = train[row[features.USER_ID]]
        # Train rows are in source order; the latest, ties broken by source order, first.
        order = sorted(range(len(user_train)), key=lambda i: user_train[i][features.TIMESTAMP])
        expected = [user_train[i][features.ITEM_ID] for i in reversed(order)]
        assert row[features.HISTORY_ITEM_IDS] == expected
        assert not any((row[features.USER_ID], item) in eval_keys
                       for item in row[features.HISTORY_ITEM_IDS])
        assert row["user_age"] == user_train[0]["user_age"]


def test_users_split_keeps_the_most_recent_max_history_items(dataset):
    full = examples.build_examples(dataset, SplitConfig(), max_history=1000)
    capped = examples.build_examples(dataset, SplitConfig(), max_history=3)
    for whole, cut in zip(full.splits[features.USERS_SPLIT], capped.splits[features.USERS_SPLIT]):
        assert cut[features.HISTORY_ITEM_IDS] == whole[features.HISTORY_ITEM_IDS][:3]


def test_split_info_says_whether_order_matters(dataset, tmp_path):
    assert examples.build_examples(dataset, SplitConfig()).info.order_matters
    assert not examples.build_examples(dataset, SplitConfig(method="random")).info.order_matters
    # A split written by another tool: judged from its timestamps.
    rows = dataset.interactions.sort_values([features.USER_ID, features.TIMESTAMP], kind="stable")
    last = rows.groupby(features.USER_ID).cumcount(ascending=False) < 3
    shuffled = rows.sample(frac=1.0, random_state=0)
    for name, test_rows in (("temporal", rows[last]), ("random", shuffled.iloc[:300])):
        train_rows = rows.drop(test_rows.index)
        columns = ["user_id", "item_id", "rating", "timestamp"]
        train_rows.to_csv(tmp_path / f"{name}-train.csv", index=False, columns=columns)
        test_rows.to_csv(tmp_path / f"{name}-test.csv", index=False, columns=columns)
        split = SplitConfig(method="files", train_file=str(tmp_path / f"{name}-train.csv"),
                            test_file=str(tmp_path / f"{name}-test.csv"))
        assert examples.build_examples(dataset, split).info.order_matters == (name == "temporal")


def test_random_split_depends_on_seed(dataset):
    def eval_keys(seed):
        rows = examples.build_examples(dataset, SplitConfig(method="random", seed=seed))
        return [(r[features.USER_ID], r[features.ITEM_ID])
                for r in rows.splits[features.EVAL_SPLIT]]
    assert eval_keys(1) == eval_keys(1)
    assert eval_keys(1) != eval_keys(2)


def test_rows_carry_user_features_and_item_features_live_in_the_candidates():
    dataset = csv_files.load_csv({
        "interactions": {"path": "ratings.csv", "columns": {
            "user_id": "uid", "item_id": "iid", "rating": "stars", "timestamp": "ts"}},
        "items": {"path": "products.csv", "columns": {"item_id": "sku"},
                  "text_fields": ["title", "description"], "tag_fields": ["categories"],
                  "numeric_fields": ["price"]},
        "users": {"path": "customers.csv", "columns": {"user_id": "uid"},
                  "categorical_fields": ["segment"], "numeric_fields": ["age"]},
    }, base_dir=str(CSV_DIR))
    result = examples.build_examples(dataset, SplitConfig(eval_fraction=0.0))
    row = next(r for r in result.splits[features.TRAIN_SPLIT]
               if (r[features.USER_ID], r[features.ITEM_ID]) == ("alice", "B004"))
    assert row == {
        "user_id": "alice", "item_id": "B004", "timestamp": 1600000500, "rating": 1.0,
        "user_segment": "student", "user_age": 21.0,
        "history_item_ids": ["B002", "B001"],
    }
    interactions = [*result.splits[features.TRAIN_SPLIT], *result.splits[features.EVAL_SPLIT]]
    assert not any(features.is_item_feature(name) for row in interactions for name in row)
    candidates = {r[features.ITEM_ID]: r for r in result.splits[features.CANDIDATES_SPLIT]}
    assert sorted(candidates) == ["B001", "B002", "B003", "B004"]
    assert candidates["B003"] == {"item_id": "B003", "item_text": "Garden Notes",
                                  "item_tags": ["gardening", "nature"], "item_price": 12.5}
    assert candidates["B004"] == {
        "item_id": "B004", "item_text": "Café Stories. Short stories set in Parisian cafés.",
        "item_tags": ["fiction"], "item_price": 9.99}


def test_split_config_rejects_bad_values():
    with pytest.raises(ValueError, match="method"):
        SplitConfig(method="by-date")
    with pytest.raises(ValueError, match="eval_fraction"):
        SplitConfig(eval_fraction=1.0)


def test_tf_example_encoding(tmp_path):
    row = {"user_id": "u1", "item_text": "Café", "item_tags": ["a", "b"],
           "history_item_ids": [], "timestamp": 1600000000, "rating": 4.5,
           "item_year": np.float64(1995.0), "count": np.int64(3)}
    records = encoding.serialize(encoding.batch_from_rows([row, row]))
    example = tf.train.Example.FromString(records[0])
    feature = example.features.feature
    assert feature["item_text"].bytes_list.value == ["Café".encode("utf-8")]
    assert feature["item_tags"].bytes_list.value == [b"a", b"b"]
    assert feature["history_item_ids"].WhichOneof("kind") == "bytes_list"
    assert list(feature["history_item_ids"].bytes_list.value) == []
    assert feature["timestamp"].int64_list.value == [1600000000]
    assert feature["count"].int64_list.value == [3]
    assert feature["rating"].float_list.value == [4.5]
    assert feature["item_year"].float_list.value == [1995.0]

    path = str(tmp_path / "Split-train" / "data.gz")
    encoding.write_tfrecord_gz([row, row], path)
    assert [_decoded(r) for r in _read(path)] == [_decoded(r) for r in records]


def test_tf_example_rejects_unknown_types():
    with pytest.raises(TypeError, match="'bad'"):
        encoding.serialize(encoding.batch_from_rows([{"bad": {"a": 1}}]))


def _read(path):
    return list(tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator())


def _decoded(record):
    """A tf.Example -> a dict row, single values unwrapped."""
    row = {}
    for name, feature in tf.train.Example.FromString(record).features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        if kind == "bytes_list":
            values = [v.decode("utf-8") for v in values]
        row[name] = values if name in encoding.LIST_FEATURES else values[0]
    return row


def test_written_shards_hold_every_row_once_as_built(dataset, tmp_path):
    """Rows built a batch at a time and written to several files equal the rows read
    one at a time; floats compared at float32, as tf.Example stores them."""
    result = examples.build_examples(dataset, SplitConfig(holdout_item_fraction=0.1),
                                     HISTORY_LENGTH)
    for name, rows in result.splits.items():
        paths = encoding.write_split(rows, str(tmp_path / name), rows_per_shard=700)
        assert len(paths) == max(1, math.ceil(len(rows) / 700))
        written = [_decoded(r) for path in paths for r in _read(path)]
        expected = [{k: np.float32(v) if isinstance(v, float) else v for k, v in row.items()}
                    for row in rows]
        assert written == expected, name
    assert len(result.splits[features.USERS_SPLIT]) == dataset.interactions[
        features.USER_ID].nunique()


def test_an_empty_split_is_one_empty_file(tmp_path):
    paths = encoding.write_split([], str(tmp_path))
    assert [pathlib.Path(p).name for p in paths] == ["data_tfrecord-00000-of-00001.gz"]
    assert _read(paths[0]) == []


def test_random_rows_split_takes_the_fraction_of_all_rows():
    from components.example_gen.examples import build_examples
    from components.example_gen.split_config import SplitConfig
    from data_contract import synthetic

    dataset = synthetic.generate(num_users=50, num_items=80, num_interactions=1000, seed=2)
    built = build_examples(dataset, SplitConfig(method="random_rows", eval_fraction=0.2, seed=1))
    assert len(built.splits["eval"]) == 200
    again = build_examples(dataset, SplitConfig(method="random_rows", eval_fraction=0.2, seed=1))
    assert [r["item_id"] for r in again.splits["eval"]] == [r["item_id"] for r in built.splits["eval"]]


def test_split_from_files_keeps_the_given_train_and_test(tmp_path):
    from components.example_gen.examples import build_examples
    from components.example_gen.split_config import SplitConfig
    from data_contract import synthetic
    from data_contract.errors import ContractError

    dataset = synthetic.generate(num_users=20, num_items=30, num_interactions=200, seed=4)
    rows = dataset.interactions
    rows.iloc[:150].to_csv(tmp_path / "train.csv", index=False,
                           columns=["user_id", "item_id", "rating", "timestamp"])
    rows.iloc[150:].to_csv(tmp_path / "test.csv", index=False,
                           columns=["user_id", "item_id", "rating", "timestamp"])
    split = SplitConfig(method="files", train_file=str(tmp_path / "train.csv"),
                        test_file=str(tmp_path / "test.csv"))
    built = build_examples(dataset, split)
    assert len(built.splits["train"]) == 150 and len(built.splits["eval"]) == 50
    assert {r["item_id"] for r in built.splits["eval"]} == set(rows.iloc[150:]["item_id"])

    with open(tmp_path / "test.csv", "a") as f:
        f.write("u0001,no-such-item,3.0,1600000000\n")
    with pytest.raises(ContractError, match="test.csv: 1 rows name items"):
        build_examples(dataset, split)
