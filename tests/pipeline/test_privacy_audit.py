"""The privacy audit finds raw user ids and forgotten users' pseudonyms where they hide,
and does not cry wolf over numbers that merely look like MovieLens user ids."""
import gzip
import os
import sqlite3

import tensorflow as tf

from data_contract import pseudonyms
from pipeline import privacy_audit

PSEUDONYMISER = pseudonyms.Pseudonymiser(b"a key for the audit tests")


def _example(user_id: str) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[user_id.encode()])),
        "item_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"17"]))})).SerializeToString()


def _write_examples(path, user_ids) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(str(path), "GZIP") as writer:
        for user_id in user_ids:
            writer.write(_example(user_id))


def _findings(report):
    return {(os.path.basename(f.path), f.what) for f in report.findings}


def test_a_clean_output_has_no_findings_and_numbers_elsewhere_are_not_user_ids(tmp_path):
    raw = ["1", "2", "17", "943"]
    _write_examples(tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz", [PSEUDONYMISER(u) for u in raw])
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "user_id").write_text("".join(PSEUDONYMISER(u) + "\n" for u in raw))
    (tmp_path / "assets" / "item_id").write_text("1\n2\n17\n943\n")  # item ids: not user ids
    (tmp_path / "evaluation.json").write_text('{"num_users": 943, "ndcg@10": 0.17}')
    report = privacy_audit.audit([str(tmp_path)], raw)
    assert report.clean, report.summary()
    assert report.structured_values == {"examples": 4, "vocabularies": 4}
    assert report.structured_only_ids == 4 and report.searchable_ids == 0


def test_raw_ids_are_found_by_structure_and_by_bytes_without_being_printed(tmp_path):
    _write_examples(tmp_path / "Split-eval" / "data_tfrecord-00000-of-00001.gz", ["943", PSEUDONYMISER("1")])
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "user_id").write_text("12 alice0001\n")  # "count token" vocabulary
    with gzip.open(tmp_path / "cache.gz", "wb") as f:
        f.write(b"\x00\x05alice0001\x00")
    (tmp_path / "recommendations.csv").write_text("17,i1 i2\n")
    report = privacy_audit.audit([str(tmp_path)], ["943", "17", "alice0001"])
    assert _findings(report) == {
        ("data_tfrecord-00000-of-00001.gz", "1 examples user-id values are raw user ids"),
        ("user_id", "1 occurrences of raw user ids"),
        ("user_id", "1 vocabularies user-id values are raw user ids"),
        ("cache.gz", "1 occurrences of raw user ids"),
        ("recommendations.csv", "1 recommendations user-id values are raw user ids"),
    }
    assert "alice0001" not in report.summary() and "943" not in report.summary()


def test_a_forgotten_users_pseudonym_counts_in_metadata_and_in_what_was_written_after_the_erasure(tmp_path):
    forgotten = PSEUDONYMISER("u0007")
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text(f"{forgotten}\n")
    new.write_text(f"{forgotten}\n")
    os.utime(old, (1_000, 1_000))
    with sqlite3.connect(tmp_path / "metadata.db") as connection:
        connection.execute("create table property (value text)")
        connection.execute("insert into property values (?)", (forgotten,))
    os.utime(tmp_path / "metadata.db", (1_000, 1_000))
    report = privacy_audit.audit([str(tmp_path)], ["u0001"], frozenset([forgotten]), erased_since=2_000)
    assert _findings(report) == {("new.txt", "1 occurrences of forgotten users' pseudonyms"),
                                 ("metadata.db", "1 occurrences of forgotten users' pseudonyms")}


def test_user_id_values_that_are_neither_raw_nor_pseudonyms_are_reported(tmp_path):
    _write_examples(tmp_path / "data_tfrecord-00000-of-00001.gz", ["someone-else", ""])
    report = privacy_audit.audit([str(tmp_path)], ["u0001"])
    assert _findings(report) == {("data_tfrecord-00000-of-00001.gz", "1 examples user-id values are not pseudonyms")}


def test_an_escaped_character_is_not_an_id(tmp_path):
    """Pickle and JSON write the NUL byte as \\u0000 (TFT's analyzer cache manifest does):
    that is not the synthetic user id u0000, which is found anywhere else."""
    (tmp_path / "MANIFEST").write_bytes(b"(V__v1__VocabularyAccumulate[vocabulary]-m\\u00007")
    assert privacy_audit.audit([str(tmp_path)], ["u0000"]).clean
    (tmp_path / "log.txt").write_bytes(b"user u0000 asked")
    assert not privacy_audit.audit([str(tmp_path)], ["u0000"]).clean
