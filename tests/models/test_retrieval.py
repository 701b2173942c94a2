"""The retrieval model's families on a small synthetic sample: training, export, cold start."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401

from components.example_gen.split_config import SplitConfig
from data_contract import synthetic
from models import export_lib, families, features, text_encoder, trainer_lib
from models.retrieval import export
from models.retrieval.hparams import RetrievalHparams
from models.retrieval.trainer_module import Retrieval
from training_sample import write_training_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Examples on disk, a Transform output and the text encoder for a small catalogue."""
    root = tmp_path_factory.mktemp("retrieval")
    dataset = synthetic.generate(num_users=150, num_items=200, num_interactions=6000, seed=5)
    return {
        "data": write_training_sample(root, dataset, SplitConfig(), history_length=5),
        "encoder_dir": text_encoder.export_encoder(str(root / "encoder"), sequence_length=32),
        "root": root,
    }


def _train(sample, family, epochs=3):
    """The skeleton's steps, as run_fn takes them: prepare, then train."""
    data = sample["data"]
    hparams = RetrievalHparams(family=family, epochs=epochs, batch_size=256, embedding_dim=32)
    run = trainer_lib.prepare(
        Retrieval(), hparams, data.tft_output, data.files(features.TRAIN_SPLIT),
        data.files(features.EVAL_SPLIT), data.files(features.CANDIDATES_SPLIT),
        sample["encoder_dir"])
    model, history = trainer_lib.train(Retrieval(), run)
    return run, model, history


def test_the_trainer_finds_the_candidates_beside_the_train_split(sample):
    data = sample["data"]
    assert (trainer_lib.split_file_patterns(data.files(features.TRAIN_SPLIT),
                                            features.CANDIDATES_SPLIT)
            == data.files(features.CANDIDATES_SPLIT))


def test_text_families_need_the_text_encoder(sample):
    data = sample["data"]
    with pytest.raises(ValueError, match="need the text encoder as the Trainer's base_model"):
        trainer_lib.prepare(Retrieval(), RetrievalHparams(family="content"), data.tft_output,
                            data.files(features.TRAIN_SPLIT), data.files(features.EVAL_SPLIT),
                            data.files(features.CANDIDATES_SPLIT), text_encoder_path=None)


@pytest.mark.parametrize("family", sorted(families.FAMILIES))
def test_each_family_builds_from_its_blocks_and_learns(sample, family):
    run, model, history = _train(sample, family)
    assert [block.name for block in model.query_tower.blocks] == list(
        families.get(family).query_blocks)
    assert (run.text_encoder is not None) == families.get(family).uses_text
    losses = history.history["loss"]
    assert losses[-1] < 0.97 * losses[0], losses


@pytest.fixture(scope="module")
def exported_content_model(sample):
    run, model, _ = _train(sample, "content", epochs=4)
    export_dir = str(sample["root"] / "exported")
    Retrieval().export(model, run, export_dir)
    return model, run, tf.saved_model.load(export_dir)


def _user_inputs(history):
    return {features.HISTORY_ITEM_IDS: tf.constant([history]),
            "user_age": tf.constant([30.0]), "user_gender": tf.constant(["F"]),
            "user_occupation": tf.constant(["chef"])}


def test_exported_model_scores_like_the_in_memory_model(sample, exported_content_model):
    model, run, loaded = exported_content_model
    catalogue = run.catalogue
    tft_layer = run.tft_output.transform_features_layer()
    inputs = _user_inputs([b"i00001", b"i00002", b""])
    raw = export_lib.to_raw_features(inputs, run.raw_feature_spec)
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
    _, run, loaded = exported_content_model
    catalogue = run.catalogue
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
