"""ServingPusher: atomic publishing, blessing, warmup requests and the model server's config files."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.serving_pusher import publish, server_configs
from components.serving_pusher.component import ServingPusher
from components.serving_pusher.executor import Executor
from components.serving_pusher.push import WarmupError, push
from serving import config as serving_config
from serving.model_registry import versions_on_disk
from serving.servable import SavedModelServable
from serving.warmup import WARMUP_FILE, run_warmup

CATALOGUE = [f"i{index:02d}" for index in range(20)]


class TinyRecommender(tf.Module):
    """Hashed-embedding retrieval plus a score signature: the shapes of the project's models."""

    def __init__(self, dim: int = 8, padding_rows: int = 0):
        super().__init__()
        rng = np.random.default_rng(0)
        self.users = tf.Variable(rng.normal(size=(64, dim)).astype(np.float32))
        self.items = tf.Variable(rng.normal(size=(len(CATALOGUE), dim)).astype(np.float32))
        self.catalogue = tf.constant(CATALOGUE)
        # Unused weight that makes copying take long enough for a reader to catch it half-done.
        self.padding = tf.Variable(np.zeros((padding_rows, 256), np.float32))

    def _item_rows(self, item_ids):
        return tf.gather(self.items, tf.strings.to_hash_bucket_fast(item_ids, len(CATALOGUE)))

    def _query(self, user_id, history_item_ids):
        user = tf.gather(self.users, tf.strings.to_hash_bucket_fast(user_id, 64))
        history = tf.cast(tf.not_equal(history_item_ids, ""), tf.float32)[..., None]
        return user + tf.reduce_sum(self._item_rows(history_item_ids) * history, axis=1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.string)])
    def retrieve(self, user_id, history_item_ids):
        scores, indices = tf.math.top_k(tf.matmul(self._query(user_id, history_item_ids), self.items,
                                                  transpose_b=True), k=5)
        return {"item_ids": tf.gather(self.catalogue, indices), "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.string),
                                  tf.TensorSpec([None], tf.string)])
    def score(self, user_id, history_item_ids, item_id):
        return {"scores": tf.reduce_sum(self._query(user_id, history_item_ids) * self._item_rows(item_id), axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def score_examples(self, examples):
        """Like the ranking model's TFMA signature: fails on anything but real tf.Examples."""
        parsed = tf.io.parse_example(examples, {
            "user_id": tf.io.FixedLenFeature([], tf.string), "item_id": tf.io.FixedLenFeature([], tf.string),
            "history_item_ids": tf.io.VarLenFeature(tf.string)})
        history = tf.sparse.to_dense(parsed["history_item_ids"])
        return {"predictions": self.score(parsed["user_id"], history, parsed["item_id"])["scores"]}


def export(path: Path, padding_rows: int = 0) -> Path:
    model = TinyRecommender(padding_rows=padding_rows)
    tf.saved_model.save(model, str(path), signatures={
        "serving_default": model.retrieve, "retrieve": model.retrieve, "score": model.score,
        "score_examples": model.score_examples})
    return path


def eval_row(row: int) -> tf.train.Example:
    """A user's interaction: id, item and history."""
    history = [CATALOGUE[-1 - (row + k) % 7].encode() for k in range(row % 4)]
    return tf.train.Example(features=tf.train.Features(feature={
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"u{row:03d}".encode()])),
        "item_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[CATALOGUE[row].encode()])),
        "history_item_ids": tf.train.Feature(bytes_list=tf.train.BytesList(value=history)),
        "timestamp": tf.train.Feature(int64_list=tf.train.Int64List(value=[1000 + row])),
    }))


def candidate_row(item: str) -> tf.train.Example:
    """A catalogue row: an item and its features."""
    return tf.train.Example(features=tf.train.Features(feature={
        "item_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[item.encode()])),
        "item_tags": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"tag"])),
    }))


def write_examples(examples_uri: Path, count: int = 12) -> None:
    """The eval split (users' rows) and the candidates split (the catalogue), as ExampleGen writes them."""
    for split, rows in (("eval", [eval_row(row) for row in range(count)]),
                        ("candidates", [candidate_row(item) for item in CATALOGUE])):
        split_dir = examples_uri / f"Split-{split}"
        split_dir.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
            for example in rows:
                writer.write(example.SerializeToString())


def artifacts(workdir: Path, name: str, model_dir: Path, blessed: bool, examples_dir: Path | None) -> dict:
    """The executor's input and output dicts, artifacts laid out as TFX writes them."""
    model = standard_artifacts.Model()
    model.uri = str(model_dir.parent)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(workdir / f"{name}-blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(workdir / f"{name}-pushed")
    os.makedirs(pushed.uri)
    inputs = {"model": [model], "model_blessing": [blessing]}
    if examples_dir is not None:
        examples_artifact = standard_artifacts.Examples()
        examples_artifact.uri = str(examples_dir)
        examples_artifact.split_names = artifact_utils.encode_split_names(["eval", "candidates"])
        inputs["examples"] = [examples_artifact]
    return {"inputs": inputs, "outputs": {"pushed_model": [pushed]}, "pushed": pushed}


def exec_properties(serving_root: Path, model_name: str) -> dict:
    return {"serving_root": str(serving_root), "model_name": model_name, "warmup_signatures": "[]",
            "warmup_rows": 4, "num_batch_threads": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Two Trainer-style model artifacts (Format-Serving) and an Examples artifact with eval and candidates."""
    root = tmp_path_factory.mktemp("trained")
    write_examples(root / "examples")
    return {
        "retrieval": export(root / "retrieval-model" / "Format-Serving"),
        "ranking": export(root / "ranking-model" / "Format-Serving"),
        "examples": root / "examples",
    }


@pytest.fixture(scope="module")
def pushed(tmp_path_factory, trained) -> dict:
    """Both models pushed by the executor to one serving root."""
    tmp_path = tmp_path_factory.mktemp("push")
    serving_root = tmp_path / "serving"
    results = {}
    for name in ("retrieval", "ranking"):
        io = artifacts(tmp_path, name, trained[name], blessed=True, examples_dir=trained["examples"])
        Executor().Do(io["inputs"], io["outputs"], exec_properties(serving_root, name))
        results[name] = io["pushed"]
    return {"serving_root": serving_root, "artifacts": results}


def test_blessed_model_is_pushed_with_the_stock_pusher_properties(pushed):
    serving_root = pushed["serving_root"]
    for name, artifact in pushed["artifacts"].items():
        version = artifact.get_string_custom_property("pushed_version")
        assert artifact.get_int_custom_property("pushed") == 1
        assert artifact.get_string_custom_property("pushed_destination") == str(serving_root / name / version)
        assert versions_on_disk(str(serving_root / name)) == [int(version)]
        assert (Path(artifact.uri) / "saved_model.pb").exists()  # the archived copy
    assert not [entry for entry in os.listdir(serving_root / "retrieval") if entry.startswith(".")]


def test_not_blessed_pushes_nothing(tmp_path, trained):
    serving_root = tmp_path / "serving"
    io = artifacts(tmp_path, "retrieval", trained["retrieval"], blessed=False, examples_dir=None)
    Executor().Do(io["inputs"], io["outputs"], exec_properties(serving_root, "retrieval"))
    assert io["pushed"].get_int_custom_property("pushed") == 0
    assert not serving_root.exists()


def warmup_logs(pushed, name: str) -> list[prediction_log_pb2.PredictionLog]:
    version_dir = pushed["artifacts"][name].get_string_custom_property("pushed_destination")
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(os.path.join(version_dir, WARMUP_FILE))]


def test_warmup_file_holds_an_unknown_users_requests_about_catalogue_items_and_the_server_replays_it(pushed):
    logs = warmup_logs(pushed, "retrieval")
    signatures = [log.predict_log.request.model_spec.signature_name for log in logs]
    assert signatures == ["retrieve", "retrieve", "score", "score", "score_examples", "score_examples",
                          "serving_default", "serving_default"]
    batch = logs[3].predict_log.request.inputs
    assert tf.make_ndarray(batch["user_id"]).tolist() == [b"", b"", b"", b""]
    assert tf.make_ndarray(batch["item_id"]).tolist() == [item.encode() for item in CATALOGUE[:4]]
    history = tf.make_ndarray(batch["history_item_ids"])
    assert history.shape == (4, 3) and history[0].tolist() == [b"", b"", b""]
    assert history[3].tolist() == [b"i00", b"i01", b"i02"]  # other catalogue items
    examples = tf.make_ndarray(logs[5].predict_log.request.inputs["examples"])
    parsed = [tf.train.Example.FromString(e).features.feature for e in examples]
    assert [f["user_id"].bytes_list.value[0] for f in parsed] == [b""] * 4
    assert [f["item_tags"].bytes_list.value[:] for f in parsed] == [[b"tag"]] * 4  # the item's features
    version_dir = pushed["artifacts"]["retrieval"].get_string_custom_property("pushed_destination")
    assert run_warmup(SavedModelServable("retrieval", 1, version_dir)) == 8


def test_warmup_files_hold_no_user_id_or_history_from_the_data(pushed, trained):
    eval_rows = [eval_row(row).features.feature for row in range(12)]
    user_ids = {f["user_id"].bytes_list.value[0] for f in eval_rows}
    histories = {tuple(f["history_item_ids"].bytes_list.value) for f in eval_rows} - {()}
    for name in ("retrieval", "ranking"):
        logs = warmup_logs(pushed, name)
        for log in logs:
            inputs = log.predict_log.request.inputs
            rows = ([tf.train.Example.FromString(e).features.feature for e in tf.make_ndarray(inputs["examples"])]
                    if "examples" in inputs else [])
            sent_ids = (set(tf.make_ndarray(inputs["user_id"]).ravel()) if "user_id" in inputs else set()) | {
                f["user_id"].bytes_list.value[0] for f in rows}
            assert sent_ids == {b""}, name
            sent_histories = ([tuple(h for h in row if h) for row in tf.make_ndarray(inputs["history_item_ids"])]
                              if "history_item_ids" in inputs else [])
            sent_histories += [tuple(f["history_item_ids"].bytes_list.value) for f in rows]
            assert not histories & set(sent_histories), name
        version_dir = pushed["artifacts"][name].get_string_custom_property("pushed_destination")
        with open(os.path.join(version_dir, WARMUP_FILE), "rb") as f:
            content = f.read()
        assert not [user for user in user_ids if user in content], name


def test_a_version_whose_warmup_fails_is_never_published(tmp_path, trained):
    """Without catalogue rows, score_examples gets an empty tf.Example and fails, as it would in TF Serving."""
    serving_root = tmp_path / "serving"
    with pytest.raises(WarmupError, match="(?s)TF Serving would refuse to load the version: .*item_id"):
        push(str(trained["retrieval"]), str(serving_root), "retrieval")
    assert os.listdir(serving_root / "retrieval") == []
    assert not (serving_root / server_configs.MODELS_CONFIG_FILE).exists()
    result = push(str(trained["retrieval"]), str(serving_root), "retrieval",
                  warmup_signatures=["retrieve", "score"])  # placeholders suit these
    assert result.warmup_records == 2


def test_models_config_lists_both_models_and_batching_file_parses(pushed):
    serving_root = pushed["serving_root"]
    text = (serving_root / server_configs.MODELS_CONFIG_FILE).read_text()
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    assert {(model.name, model.base_path, model.model_platform) for model in config.model_config_list.config} == {
        ("ranking", str(serving_root / "ranking"), "tensorflow"),
        ("retrieval", str(serving_root / "retrieval"), "tensorflow"),
    }
    serving_config.parse_model_server_config(text)  # what `unirec serve --model_config_file` reads
    batching = serving_config.load_batching_parameters(str(serving_root / server_configs.BATCHING_PARAMETERS_FILE))
    assert batching.num_batch_threads == 2 and batching.max_batch_size >= 100


def file_sizes(directory: Path) -> dict[str, int]:
    return {str(path.relative_to(directory)): path.stat().st_size for path in directory.rglob("*") if path.is_file()}


def test_a_concurrent_reader_never_sees_a_partial_version(tmp_path):
    source = export(tmp_path / "big-model", padding_rows=8000)  # ~8 MB of variables
    expected = file_sizes(source)
    base_path = tmp_path / "serving" / "retrieval"
    partial, polls, done = [], [0], threading.Event()

    def poll() -> None:  # what the server's version poller does, then a look inside each version
        while not done.is_set():
            if base_path.exists():
                for version in versions_on_disk(str(base_path)):
                    try:
                        seen = file_sizes(base_path / str(version))
                    except FileNotFoundError:
                        seen = {}
                    if seen != expected:
                        partial.append(version)
            polls[0] += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        published = [publish.publish_version(str(source), str(base_path))[0] for _ in range(3)]
    finally:
        done.set()
        reader.join()
    assert partial == [] and polls[0] > 10
    assert published == sorted(set(published)) and versions_on_disk(str(base_path)) == published
    assert sorted(os.listdir(base_path)) == sorted(str(version) for version in published)  # no staging left


def test_versions_never_go_backwards(tmp_path):
    (tmp_path / "9999999999").mkdir()
    assert publish.next_version(str(tmp_path), now=1_000) == 10_000_000_000
    assert publish.next_version(str(tmp_path / "missing"), now=1_000.7) == 1_000


def test_remote_file_systems_get_the_version_with_saved_model_pb_last(trained):
    base_path = "ram://serving-pusher-test/retrieval"
    version, version_dir = publish.publish_version(str(trained["retrieval"]), base_path)
    assert version_dir == f"{base_path}/{version}"
    assert tf.io.gfile.exists(f"{version_dir}/saved_model.pb")
    assert tf.io.gfile.exists(f"{version_dir}/variables/variables.index")


def test_component_declares_the_stock_pusher_channels(trained):
    from tfx import v1 as tfx

    model = tfx.dsl.Channel(type=standard_artifacts.Model)
    blessing = tfx.dsl.Channel(type=standard_artifacts.ModelBlessing)
    pusher = ServingPusher(model=model, model_blessing=blessing, serving_root="/srv", model_name="retrieval")
    assert set(pusher.inputs) == {"model", "model_blessing"}
    assert pusher.outputs["pushed_model"].type == standard_artifacts.PushedModel
    with pytest.raises(ValueError, match="plain directory name"):
        ServingPusher(model=model, model_blessing=blessing, serving_root="/srv", model_name="../x")


def test_retention_keeps_the_newest_versions(tmp_path, trained):
    serving_root = tmp_path / "serving"
    base_path = serving_root / "retrieval"
    for version in (10, 11, 12):
        (base_path / str(version)).mkdir(parents=True)
    result = push(str(trained["retrieval"]), str(serving_root), "retrieval",
                  warmup_signatures=["retrieve"], keep_versions=2)
    assert versions_on_disk(str(base_path)) == [12, result.version]
    assert sorted(os.listdir(base_path)) == sorted(["12", str(result.version)])  # nothing hidden left behind
    assert publish.prune_versions(str(base_path), keep=1) == [12]
    with pytest.raises(ValueError, match="at least 1"):
        publish.prune_versions(str(base_path), keep=0)


def test_a_pusher_killed_mid_copy_leaves_nothing_the_next_push_keeps(tmp_path, trained):
    base_path = tmp_path / "serving" / "retrieval"
    dead = subprocess_pid_that_exited()
    abandoned = base_path / f"{publish.STAGING_PREFIX}{dead}-new-0123"
    (abandoned / "variables").mkdir(parents=True)
    mine = base_path / f"{publish.STAGING_PREFIX}{os.getpid()}-new-4567"  # a live pusher's: left alone
    mine.mkdir()
    version, _ = publish.publish_version(str(trained["retrieval"]), str(base_path))
    assert sorted(os.listdir(base_path)) == sorted([str(version), mine.name])


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
