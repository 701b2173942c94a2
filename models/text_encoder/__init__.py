"""A pretrained BERT sentence encoder (keras-hub), exported as a SavedModel.

`export_encoder` writes a SavedModel that tokenizes raw strings in-graph and
returns mean-pooled, L2-normalised embeddings; `encode_texts` runs one over a
list of texts, encoding each distinct text once.
"""
from models.text_encoder.checkpoint import BertCheckpoint, default_checkpoint_dir, load_checkpoint
from models.text_encoder.encoder import (
    DEFAULT_SEQUENCE_LENGTH,
    TextEncoderModule,
    encode_texts,
    export_encoder,
    load_encoder,
)
from models.text_encoder.tokenizer import BertWordPieceTokenizer

__all__ = [
    "DEFAULT_SEQUENCE_LENGTH",
    "BertCheckpoint",
    "BertWordPieceTokenizer",
    "TextEncoderModule",
    "default_checkpoint_dir",
    "encode_texts",
    "export_encoder",
    "load_checkpoint",
    "load_encoder",
]
