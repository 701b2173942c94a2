"""The schema of interaction rows and catalogue rows, which hold different features.

Item features live once, in the candidates split; an interaction row holds its
item's id only and is joined to them by id. TFDV infers a schema per split, so
the interaction features come from the interaction splits' statistics (train,
then eval, as SchemaGen infers them) and the item features from the candidates'.
Transform analyses both kinds of row together (the item features' vocabularies
and scales come from the catalogue, the rest from train), so every single-valued
feature gets a dense representation with a default (the empty string or 0) for
the rows that lack it; `raw_feature_spec()` is then `FixedLenFeature([1], dtype,
default)`, parsed as before. Validation is unchanged for the interaction
features (their presence is still required); item features are optional there.
"""
from typing import Sequence

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from models import features

_DEFAULT_GROUP = ""  # the tensor representation group TFT and TFXIO read


def join(interaction_statistics: Sequence[statistics_pb2.DatasetFeatureStatisticsList],
         catalogue_statistics: statistics_pb2.DatasetFeatureStatisticsList
         ) -> schema_pb2.Schema:
    """The schema of the interaction splits with the catalogue's item features added.

    Args:
      interaction_statistics: statistics of the train split, then of the eval split.
      catalogue_statistics: statistics of the candidates split.
    """
    schema = tfdv.infer_schema(interaction_statistics[0], infer_feature_shape=True)
    for statistics in interaction_statistics[1:]:
        # An empty split (eval_fraction 0) would mark every feature deprecated.
        if _num_examples(statistics):
            schema = tfdv.update_schema(schema, statistics, infer_feature_shape=True)
    catalogue = tfdv.infer_schema(catalogue_statistics, infer_feature_shape=True)
    interaction_features = {feature.name for feature in schema.feature}
    interaction_domains = {domain.name for domain in schema.string_domain}
    for item_feature in catalogue.feature:
        if item_feature.name in interaction_features:
            continue  # item_id: its interactions' domain and presence
        added = schema.feature.add()
        added.CopyFrom(item_feature)
        added.presence.min_fraction = 0.0  # an interaction row has none
        added.presence.min_count = 0
        if added.HasField("shape"):
            # TFT reads `shape` as "required"; an optional [1] feature is a value count.
            added.ClearField("shape")
            added.value_count.min = added.value_count.max = 1
    for domain in catalogue.string_domain:
        if domain.name not in interaction_domains and domain.name not in interaction_features:
            schema.string_domain.add().CopyFrom(domain)
    _add_representations(schema)
    return schema


def _num_examples(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> int:
    return sum(dataset.num_examples for dataset in statistics.datasets)


def _add_representations(schema: schema_pb2.Schema) -> None:
    """Every feature's tensor representation (with a group, TFXIO infers none): a list
    is sparse; a single value dense `[1]`, with a default unless it is the item id,
    which every row has."""
    representations = schema.tensor_representation_group[_DEFAULT_GROUP].tensor_representation
    for feature in schema.feature:
        single = (feature.HasField("shape") and [d.size for d in feature.shape.dim] == [1]) or (
            feature.HasField("value_count") and feature.value_count.max == 1)
        if not single:
            representations[feature.name].varlen_sparse_tensor.column_name = feature.name
            continue
        dense = representations[feature.name].dense_tensor
        dense.column_name = feature.name
        dense.shape.dim.add().size = 1
        if feature.name == features.ITEM_ID:
            continue
        if feature.type == schema_pb2.BYTES:
            dense.default_value.bytes_value = b""
        elif feature.type == schema_pb2.FLOAT:
            dense.default_value.float_value = 0.0
        else:
            dense.default_value.int_value = 0
