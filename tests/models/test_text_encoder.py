"""The text encoder against all-MiniLM-L6-v2 reference outputs (no torch needed).

tests/fixtures/minilm_reference.json holds sentence-transformers' embeddings and
Hugging Face's token ids for varied sentences; make_minilm_reference.py beside it
says how it was made.
"""
import json
import os
import pathlib
import subprocess
import sys

import keras_hub
import numpy as np
import pytest
import safetensors.numpy
import tensorflow as tf

from models.text_encoder import (
    BertWordPieceTokenizer,
    default_checkpoint_dir,
    encode_texts,
    export_encoder,
    load_checkpoint,
    load_encoder,
)

REFERENCE = json.loads(
    (pathlib.Path(__file__).parent.parent / "fixtures" / "minilm_reference.json").read_text()
)
SEQUENCE_LENGTH = REFERENCE["sequence_length"]
TEXTS = [case["text"] for case in REFERENCE["cases"]]
REFERENCE_EMBEDDINGS = np.array([case["embedding"] for case in REFERENCE["cases"]], np.float32)


@pytest.fixture(scope="module")
def exported_path(tmp_path_factory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("text_encoder") / "minilm"
    export_encoder(path, sequence_length=SEQUENCE_LENGTH)
    return path


@pytest.fixture(scope="module")
def encoder(exported_path):
    return load_encoder(exported_path)


def _embed(encoder, texts: list[str]) -> np.ndarray:
    return encoder.signatures["serving_default"](text=tf.constant(texts))["embedding"].numpy()


def test_tokenizer_reproduces_hugging_face_token_ids():
    vocabulary = (default_checkpoint_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokenizer = BertWordPieceTokenizer(vocabulary, SEQUENCE_LENGTH)
    token_ids, padding_mask = (t.numpy() for t in tokenizer(tf.constant(TEXTS)))
    for row, case in enumerate(REFERENCE["cases"]):
        assert token_ids[row][padding_mask[row] == 1].tolist() == case["token_ids"], case["text"]


def test_exported_encoder_matches_sentence_transformers(encoder):
    embeddings = _embed(encoder, TEXTS)
    # Sentences longer than the sequence length are truncated exactly as in the
    # reference, so they are held to the same bounds.
    for text, embedding, reference in zip(TEXTS, embeddings, REFERENCE_EMBEDDINGS):
        cosine = embedding @ reference / np.linalg.norm(embedding) / np.linalg.norm(reference)
        assert np.abs(embedding - reference).max() <= 1e-3, text
        assert cosine >= 0.9999, text
    # Measured 3e-7; the tanh approximation of GELU would shift it to ~4e-4.
    assert np.abs(embeddings - REFERENCE_EMBEDDINGS).max() <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_loads_and_runs_under_keras_2_without_keras_hub(exported_path, encoder):
    script = (
        "import json, sys\n"
        "import models  # the project's Keras 2 switch\n"
        "import tensorflow as tf\n"
        "import tensorflow_text\n"
        "import tf_keras\n"
        "assert tf.keras.__name__.startswith('tf_keras'), tf.keras.__name__\n"
        "encoder = tf.saved_model.load(sys.argv[1])\n"
        "texts = json.loads(sys.stdin.read())\n"
        "out = encoder.signatures['serving_default'](text=tf.constant(texts))['embedding']\n"
        "assert 'keras_hub' not in sys.modules\n"
        "print(json.dumps(out.numpy().tolist()))\n"
    )
    texts = TEXTS[:4] + [""]
    environment = {name: value for name, value in os.environ.items()
                   if name != "TF_USE_LEGACY_KERAS"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    completed = subprocess.run(
        [sys.executable, "-c", script, str(exported_path)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    embeddings = np.array(json.loads(completed.stdout.strip().splitlines()[-1]), np.float32)
    np.testing.assert_allclose(embeddings, _embed(encoder, texts), atol=1e-6)


class _CountingEncoder:
    """Looks like a loaded SavedModel; records every text its signature sees."""

    def __init__(self, encoder):
        self._serve = encoder.signatures["serving_default"]
        self.seen: list[str] = []
        self.signatures = {"serving_default": self}
        self.structured_outputs = self._serve.structured_outputs

    def __call__(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        self.seen.extend(t.decode("utf-8") for t in text.numpy())
        return self._serve(text=text)


def test_encode_texts_encodes_each_distinct_text_once_in_input_order(encoder):
    texts = ["Toy Story (1995)", "", "Babe (1995)", "Toy Story (1995)", "a", "", "Babe (1995)"]
    counting = _CountingEncoder(encoder)
    embeddings = encode_texts(counting, texts, batch_size=2, progress=False)
    assert sorted(counting.seen) == sorted(set(texts))
    assert embeddings.shape == (len(texts), 384)
    np.testing.assert_allclose(embeddings, _embed(encoder, texts), atol=1e-6)


def test_encode_texts_handles_empty_input_and_empty_string(exported_path):
    assert encode_texts(exported_path, [], progress=False).shape == (0, 384)
    (empty,) = encode_texts(exported_path, [""], progress=False)
    np.testing.assert_allclose(empty, REFERENCE_EMBEDDINGS[TEXTS.index("")], atol=1e-3)


def _backbone_weights(checkpoint) -> list[np.ndarray]:
    return [np.asarray(w) for w in checkpoint.backbone.get_weights()]


def test_hugging_face_keys_with_bert_prefix_and_gamma_beta_load_the_same(tmp_path):
    source = default_checkpoint_dir()
    renamed = {
        "bert." + key.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        ): value
        for key, value in safetensors.numpy.load_file(source / "model.safetensors").items()
    }
    renamed["cls.predictions.bias"] = np.zeros(30522, np.float32)  # a masked-LM head
    safetensors.numpy.save_file(renamed, tmp_path / "model.safetensors")
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        (tmp_path / name).write_bytes((source / name).read_bytes())

    for got, want in zip(
        _backbone_weights(load_checkpoint(tmp_path)), _backbone_weights(load_checkpoint())
    ):
        np.testing.assert_array_equal(got, want)


def test_keras_hub_preset_directory_loads_with_its_vocabulary(tmp_path):
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "toy", "story"]
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    backbone.save_to_preset(tmp_path)
    keras_hub.tokenizers.BertTokenizer(vocabulary=vocabulary, lowercase=True).save_to_preset(
        tmp_path
    )

    checkpoint = load_checkpoint(tmp_path)

    assert checkpoint.vocabulary == vocabulary
    assert checkpoint.lowercase
    for got, want in zip(_backbone_weights(checkpoint), backbone.get_weights()):
        np.testing.assert_array_equal(got, want)
