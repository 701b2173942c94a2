"""The pipeline config: one YAML file picks the dataset, the split and the models."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional

import yaml

from components.example_gen.examples import SplitConfig
from models.ranking.hparams import RankingSettings
from models.retrieval.hparams import Hyperparameters

DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(__file__), "configs", "default.yaml")


@dataclasses.dataclass
class ExampleSettings:
    history_length: int = 10
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)


@dataclasses.dataclass
class RetrievalSettings(Hyperparameters):
    model_name: str = "retrieval"


@dataclasses.dataclass
class TextEncoderSettings:
    # A Hugging Face BERT folder, a keras-hub preset name, or "" for the bundled
    # all-MiniLM-L6-v2 weights (offline).
    checkpoint: str = ""
    sequence_length: int = 64


@dataclasses.dataclass
class EvaluationSettings:
    cutoffs: List[int] = dataclasses.field(default_factory=lambda: [10, 20, 50, 100])
    metric: str = "ndcg@10"
    baseline: str = "popularity"
    # Also scored on the same split, for the report (models/baselines).
    report_baselines: List[str] = dataclasses.field(
        default_factory=lambda: ["itemknn", "ease", "als", "tags_linear"])
    # The model is blessed when metric >= baseline's metric * (1 + min_relative_improvement).
    min_relative_improvement: float = 0.0


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = "unirec"
    output_dir: str = "output"
    dataset: Dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "synthetic"})
    examples: ExampleSettings = dataclasses.field(default_factory=ExampleSettings)
    retrieval: RetrievalSettings = dataclasses.field(default_factory=RetrievalSettings)
    text_encoder: TextEncoderSettings = dataclasses.field(default_factory=TextEncoderSettings)
    # The ranking branch (models/ranking): off unless the config turns it on.
    ranking: RankingSettings = dataclasses.field(
        default_factory=lambda: RankingSettings(enabled=False))
    evaluation: EvaluationSettings = dataclasses.field(default_factory=EvaluationSettings)
    enable_cache: bool = True
    beam_pipeline_args: List[str] = dataclasses.field(default_factory=list)

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root", self.pipeline_name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata", self.pipeline_name, "metadata.db")

    @property
    def serving_root(self) -> str:
        return os.path.join(self.output_dir, "serving")


def _build(cls, values: Optional[Dict[str, Any]], where: str):
    """Builds dataclass `cls` from a mapping, rejecting keys it does not know."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown}; expected some of {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        field_type = fields[name].type
        nested = _NESTED.get(field_type)
        kwargs[name] = _build(nested, value, f"{where}.{name}") if nested else value
    return cls(**kwargs)


_NESTED = {
    "SplitConfig": SplitConfig,
    "ExampleSettings": ExampleSettings,
    "RetrievalSettings": RetrievalSettings,
    "TextEncoderSettings": TextEncoderSettings,
    "RankingSettings": RankingSettings,
    "EvaluationSettings": EvaluationSettings,
}

_DATASET_PATH_KEYS = ("data_dir",)


def _resolve_dataset_paths(dataset: Dict[str, Any], base_dir: str) -> Dict[str, Any]:
    """Makes the dataset's file paths absolute, relative to the config file's folder."""
    dataset = dict(dataset)
    for key in _DATASET_PATH_KEYS:
        if dataset.get(key):
            dataset[key] = os.path.abspath(os.path.join(base_dir, dataset[key]))
    for table in ("interactions", "items", "users"):
        if isinstance(dataset.get(table), dict) and dataset[table].get("path"):
            dataset[table] = dict(dataset[table])
            dataset[table]["path"] = os.path.abspath(
                os.path.join(base_dir, dataset[table]["path"]))
    return dataset


def load_config(path: Optional[str] = None, overrides: Optional[Dict[str, Any]] = None
                ) -> PipelineConfig:
    """Reads a YAML config; `overrides` (dotted keys) win over the file.

    Dataset paths in the file are relative to the file; `output_dir` and paths
    given as overrides are relative to the working directory.
    """
    path = path or DEFAULT_CONFIG_PATH
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except OSError as e:
        raise ValueError(f"cannot read config file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ValueError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"config file {path}: expected a mapping at the top level")
    if "dataset" in raw:
        raw["dataset"] = _resolve_dataset_paths(raw["dataset"], os.path.dirname(os.path.abspath(path)))
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    if "dataset" in (overrides or {}) or any(k.startswith("dataset.") for k in overrides or {}):
        raw["dataset"] = _resolve_dataset_paths(raw["dataset"], os.getcwd())
    config = _build(PipelineConfig, raw, os.path.basename(path))
    config.output_dir = os.path.abspath(config.output_dir)
    # A checkpoint naming a folder beside the config is a path; otherwise a preset name.
    checkpoint = os.path.join(os.path.dirname(os.path.abspath(path)), config.text_encoder.checkpoint)
    if config.text_encoder.checkpoint and os.path.isdir(checkpoint):
        config.text_encoder.checkpoint = checkpoint
    split = config.examples.split
    if split.method == "files":
        config.examples.split = dataclasses.replace(
            split, train_file=os.path.abspath(split.train_file),
            test_file=os.path.abspath(split.test_file))
    return config


def dataset_overrides(dataset: Optional[str], data_dir: Optional[str]) -> Dict[str, Any]:
    """Command-line dataset flags as overrides: a dataset name replaces the
    config's whole dataset; a data folder alone points the configured one elsewhere."""
    if dataset:
        return {"dataset": {"name": dataset, **({"data_dir": data_dir} if data_dir else {})}}
    return {"dataset.data_dir": data_dir} if data_dir else {}


def _set_dotted(tree: Dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value
