"""The text encoder SavedModel: raw strings in, sentence embeddings out.

Built with keras-hub (Keras 3) and exported as a plain `tf.Module`, so the
tf_keras side of the project loads it with `tf.saved_model.load` after
`import tensorflow_text` (which registers the in-graph tokenizer ops).
"""
import os
from typing import Any, Iterable

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the tokenizer ops a loaded model needs
import tqdm

from models.text_encoder.checkpoint import BertCheckpoint, load_checkpoint
from models.text_encoder.tokenizer import BertWordPieceTokenizer

DEFAULT_SEQUENCE_LENGTH = 128
INPUT_NAME = "text"
OUTPUT_NAME = "embedding"


def mean_pool_and_normalize(sequence_output: tf.Tensor, padding_mask: tf.Tensor) -> tf.Tensor:
    """Mean over the real tokens, then unit L2 norm (sentence-transformers' pooling)."""
    mask = tf.cast(padding_mask, sequence_output.dtype)[:, :, tf.newaxis]
    summed = tf.reduce_sum(sequence_output * mask, axis=1)
    counts = tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
    return tf.math.l2_normalize(summed / counts, axis=-1)


class TextEncoderModule(tf.Module):
    """Tokenizer + BERT backbone + pooling, with a `serve` function for export."""

    def __init__(self, checkpoint: BertCheckpoint, sequence_length: int = DEFAULT_SEQUENCE_LENGTH):
        super().__init__(name="text_encoder")
        self.tokenizer = BertWordPieceTokenizer(
            checkpoint.vocabulary,
            sequence_length,
            lowercase=checkpoint.lowercase,
            strip_accents=checkpoint.strip_accents,
        )
        self.backbone = checkpoint.backbone

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
    def serve(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        token_ids, padding_mask = self.tokenizer(text)
        outputs = self.backbone(
            {
                "token_ids": token_ids,
                "segment_ids": tf.zeros_like(token_ids),
                "padding_mask": padding_mask,
            },
            training=False,
        )
        return {OUTPUT_NAME: mean_pool_and_normalize(outputs["sequence_output"], padding_mask)}


def export_encoder(
    output_dir: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH,
) -> str:
    """Writes the encoder SavedModel to `output_dir` and returns that path.

    `checkpoint`: a Hugging Face BERT directory, a keras-hub preset, or None for
    the bundled all-MiniLM-L6-v2. The SavedModel's `serving_default` maps `text`
    [batch] strings to `embedding` [batch, dim] float32; texts are cut to
    `sequence_length` tokens and each batch is padded only to its longest text.
    """
    module = TextEncoderModule(load_checkpoint(checkpoint), sequence_length)
    output_dir = os.fspath(output_dir)
    tf.saved_model.save(module, output_dir, signatures={"serving_default": module.serve})
    return output_dir


def load_encoder(path: str | os.PathLike):
    """Loads an exported encoder; works under Keras 2 (TF_USE_LEGACY_KERAS=1) too."""
    return tf.saved_model.load(os.fspath(path))


def encode_texts(
    saved_model_or_path: Any,
    texts: Iterable[str],
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """Embeds `texts` ([n, dim] float32, row i for texts[i]), each distinct text once.

    `saved_model_or_path`: an exported encoder's directory or the loaded SavedModel.
    """
    encoder = (
        load_encoder(saved_model_or_path)
        if isinstance(saved_model_or_path, (str, os.PathLike))
        else saved_model_or_path
    )
    serve = encoder.signatures["serving_default"]
    dimension = serve.structured_outputs[OUTPUT_NAME].shape[-1]

    row_of_text: dict[str, int] = {}
    rows = np.array([row_of_text.setdefault(text, len(row_of_text)) for text in texts], np.int64)
    distinct = list(row_of_text)
    # Batches of similar lengths pad less.
    by_length = sorted(range(len(distinct)), key=lambda row: len(distinct[row]))
    embeddings = np.empty((len(distinct), dimension), np.float32)
    with tqdm.tqdm(total=len(distinct), unit="text", desc="Encoding", disable=not progress) as bar:
        for start in range(0, len(by_length), batch_size):
            batch = by_length[start : start + batch_size]
            output = serve(**{INPUT_NAME: tf.constant([distinct[row] for row in batch])})
            embeddings[batch] = output[OUTPUT_NAME].numpy()
            bar.update(len(batch))
    return embeddings[rows]
