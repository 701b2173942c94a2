"""The algorithm families on a small synthetic sample: training, export, cold start."""
import os
import tempfile

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from components.datasets import synthetic
from components.example_gen import examples as examples_lib
from models import catalogue as catalogue_lib
from models import features, registry, text_encoder
from models.retrieval import export, training
from models.retrieval.hparams import Hyperparameters
from models.transform import preprocessing
from raw_feature_spec import raw_feature_spec


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Examples on disk, a Transform output and the text encoder for a small catalogue."""
    root = tmp_path_factory.mktemp("families")
    dataset = synthetic.generate(num_users=150, num_items=200, num_interactions=6000, seed=5)
    built = examples_lib.build_examples(dataset, examples_lib.SplitConfig(), history_length=5)
    for split, rows in built.splits.items():
        examples_lib.write_tfrecord_gz(rows, str(root / f"Split-{split}" / "data.gz"))
    train_rows = built.splits[features.TRAIN_SPLIT]
    spec = raw_feature_spec(train_rows[0])
    instances = [{k: v if isinstance(v, list) else [v] for k, v in row.items()} for row in train_rows]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tempfile.TemporaryDirectory() as temp_dir, tft_beam.Context(temp_dir=temp_dir), \
            beam.Pipeline() as pipeline:
        data = pipeline | beam.Create(instances, reshuffle=False)
        transform_fn = (data, metadata) | tft_beam.AnalyzeDataset(preprocessing.preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(root / "transform"))
    # The Transform component also records the raw schema there; TFTransformOutput reads it.
    metadata_io.write_metadata(metadata, str(root / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR))
    encoder_dir = text_encoder.export_encoder(str(root / "encoder"), sequence_length=32)
    return {
        "root": root,
        "tft_output": tft.TFTransformOutput(str(root / "transform")),
        "encoder": text_encoder.load_encoder(encoder_dir),
    }


def _patterns(sample, split):
    return [str(sample["root"] / f"Split-{split}" / "*")]


def _train(sample, family, epochs=3):
    hparams = Hyperparameters(family=family, epochs=epochs, batch_size=256, embedding_dim=32)
    tft_output = sample["tft_output"]
    raw_spec = tft_output.raw_feature_spec()
    encoder = sample["encoder"] if registry.get(family).uses_text else None
    catalogue = catalogue_lib.read_catalogue(
        _patterns(sample, features.CANDIDATES_SPLIT), raw_spec,
        training.candidate_raw_features(hparams, raw_spec), encoder)
    table = catalogue_lib.item_text_table(catalogue, tft_output) if encoder else None
    model, history = training.train(_patterns(sample, features.TRAIN_SPLIT),
                                    _patterns(sample, features.EVAL_SPLIT), tft_output, hparams, table)
    return hparams, catalogue, model, history


@pytest.mark.parametrize("family", sorted(registry.FAMILIES))
def test_each_family_builds_from_the_registry_and_learns(sample, family):
    _, _, _, history = _train(sample, family)
    losses = history.history["loss"]
    assert losses[-1] < 0.97 * losses[0], losses


@pytest.fixture(scope="module")
def exported_content_model(sample):
    hparams, catalogue, model, _ = _train(sample, "content", epochs=4)
    export_dir = str(sample["root"] / "exported")
    export.export_serving_model(model, sample["tft_output"], hparams, catalogue, export_dir,
                                sample["encoder"])
    return model, catalogue, tf.saved_model.load(export_dir)


def _user_inputs(history):
    return {features.HISTORY_ITEM_IDS: tf.constant([history]),
            "user_age": tf.constant([30.0]), "user_gender": tf.constant(["F"]),
            "user_occupation": tf.constant(["chef"])}


def test_exported_model_scores_like_the_in_memory_model(sample, exported_content_model):
    model, catalogue, loaded = exported_content_model
    tft_layer = sample["tft_output"].transform_features_layer()
    inputs = _user_inputs([b"i00001", b"i00002", b""])
    raw = export.to_raw_features(inputs, sample["tft_output"].raw_feature_spec())
    in_memory_query = model.query_tower(tft_layer(raw)).numpy()
    in_memory_items = export.candidate_embeddings(model, catalogue, tft_layer)

    served = loaded.signatures["retrieve"](**inputs)
    expected = np.sort(in_memory_items @ in_memory_query[0])[::-1][:len(served["scores"][0])]
    np.testing.assert_allclose(served["scores"].numpy()[0], expected, atol=1e-5)
    # The raw-text path (encoder in the graph) gives the index's embeddings.
    texts = [t for t in tf.reshape(catalogue.raw_features[features.ITEM_TEXT], [-1]).numpy()[:5]]
    tags = tf.sparse.to_dense(catalogue.raw_features[features.ITEM_TAGS]).numpy()[:5]
    from_text = loaded.signatures["candidate_embedding"](
        item_text=tf.constant(texts), item_tags=tf.constant(tags))["embedding"].numpy()
    np.testing.assert_allclose(from_text, in_memory_items[:5], atol=1e-4)


def test_unseen_item_is_retrieved_from_its_text_for_a_matching_user(exported_content_model):
    _, catalogue, loaded = exported_content_model
    item_ids = catalogue.item_ids
    tags = tf.sparse.to_dense(catalogue.raw_features[features.ITEM_TAGS]).numpy()
    space_items = [item_ids[row] for row in range(len(item_ids)) if b"space" in list(tags[row])]
    assert len(space_items) >= 3
    query = loaded.signatures["query_embedding"](**_user_inputs(space_items[:5]))["embedding"]

    new_item_text = "galaxy rocket orbit: an astronaut and a telescope chase a comet past the planet"
    new_item = loaded.signatures["candidate_embedding"](
        item_text=tf.constant([new_item_text]), item_tags=tf.constant([["space"]]))["embedding"]
    tft_layer_free_scores = loaded.signatures["retrieve"](**_user_inputs(space_items[:5]))["scores"]
    new_score = float(tf.reduce_sum(query * new_item))
    # Better than all but a handful of the whole catalogue for this user.
    assert new_score >= float(tft_layer_free_scores[0][9])
