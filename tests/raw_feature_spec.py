"""Test helper: the raw feature spec SchemaGen would infer for example rows."""
import tensorflow as tf


def raw_feature_spec(row):
    """Lists are variable-length strings; scalars are [1]-shaped features of their type."""
    spec = {}
    for name, value in row.items():
        if isinstance(value, list):
            spec[name] = tf.io.VarLenFeature(tf.string)
        else:
            dtype = {str: tf.string, int: tf.int64, float: tf.float32}[type(value)]
            spec[name] = tf.io.FixedLenFeature([1], dtype)
    return spec
