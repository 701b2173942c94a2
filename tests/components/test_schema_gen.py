"""UnirecSchemaGen's schema: interaction features from the interactions, item features
from the catalogue, each side parseable without the other's features."""
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_transform.tf_metadata import schema_utils
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

from components.example_gen import encoding
from components.schema_gen import joined_schema
from models import features

INTERACTIONS = [{"user_id": f"u{k}", "item_id": f"i{k % 3}", "rating": float(k % 5),
                 "history_item_ids": [f"i{(k + 1) % 3}"] * (k % 2), "user_age": 20 + k}
                for k in range(12)]
ITEMS = [{"item_id": f"i{k}", "item_text": f"title {k}", "item_tags": ["a", "b"][:k % 3],
          "item_year": 1990.0 + k} for k in range(4)]


def statistics(*row_lists):
    """TFDV's statistics of the rows (each list's rows have the same features)."""
    examples = [example for rows in row_lists
                for example in encoding.serialize(encoding.batch_from_rows(rows))]
    return stats_impl.generate_statistics_in_memory(
        example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(examples))


def _schema():
    return joined_schema.join([statistics(INTERACTIONS), statistics(INTERACTIONS[:6])],
                              statistics(ITEMS))


def test_each_row_kind_parses_with_defaults_for_the_other_kinds_features():
    spec = schema_utils.schema_as_feature_spec(_schema()).feature_spec
    assert spec == {
        features.USER_ID: tf.io.FixedLenFeature([1], tf.string, default_value=""),
        features.ITEM_ID: tf.io.FixedLenFeature([1], tf.string),
        features.RATING: tf.io.FixedLenFeature([1], tf.float32, default_value=0.0),
        features.HISTORY_ITEM_IDS: tf.io.VarLenFeature(tf.string),
        "user_age": tf.io.FixedLenFeature([1], tf.int64, default_value=0),
        features.ITEM_TEXT: tf.io.FixedLenFeature([1], tf.string, default_value=""),
        features.ITEM_TAGS: tf.io.VarLenFeature(tf.string),
        "item_year": tf.io.FixedLenFeature([1], tf.float32, default_value=0.0),
    }
    # Transform reads the splits through TFXIO, which projects onto every feature.
    tfxio.TFExampleBeamRecord(physical_format="tfexample", schema=_schema()).Project(list(spec))
    item_row = tf.io.parse_example(encoding.serialize(encoding.batch_from_rows(ITEMS[:1])), spec)
    assert item_row[features.USER_ID].numpy().tolist() == [[b""]]
    assert item_row[features.ITEM_TEXT].numpy().tolist() == [[b"title 0"]]


def test_interactions_without_item_features_are_valid_but_without_a_user_id_are_not():
    schema = _schema()
    assert not tfdv.validate_statistics(statistics(INTERACTIONS), schema).anomaly_info
    no_user = [{k: v for k, v in row.items() if k != features.USER_ID} for row in INTERACTIONS[:2]]
    anomalies = tfdv.validate_statistics(statistics(INTERACTIONS, no_user), schema)
    assert list(anomalies.anomaly_info) == [features.USER_ID]


def test_an_empty_eval_split_changes_nothing():
    with_empty_eval = joined_schema.join([statistics(INTERACTIONS), statistics()],
                                         statistics(ITEMS))
    assert with_empty_eval == joined_schema.join([statistics(INTERACTIONS)], statistics(ITEMS))
