"""The pipeline config: one YAML file picks the dataset, the split and the models.

The dataclasses below are the one place for defaults: a YAML config names only
what it changes (pipeline/configs/default.yaml names nothing), and unknown keys
are errors. No TensorFlow import.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, Dict, List, Optional

import yaml

from components.example_gen.split_config import SplitConfig
from data_contract import adapters
from models import blocks, distribution, families, features
from models.ranking.hparams import RankingHparams
from models.retrieval.hparams import RetrievalHparams

DEFAULT_CONFIG_PATH = os.path.join(os.path.dirname(__file__), "configs", "default.yaml")
DEFAULT_DATASET = {"name": "synthetic"}  # the deterministic synthetic catalogue, offline


@dataclasses.dataclass
class ExampleSettings:
    # Previous training items carried by each interaction row (the ranking model reads them).
    history_length: int = 10
    # Most recent training items kept per user in the users split: the retrieval
    # query, in training, evaluation and the serving request (ML-1M's heaviest
    # user has 2,314 ratings; ML-100K's 737).
    max_history: int = 1000
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)


@dataclasses.dataclass
class TextEncoderSettings:
    # A Hugging Face BERT folder, a keras-hub preset name, or "" for the bundled
    # all-MiniLM-L6-v2 weights (offline).
    checkpoint: str = ""
    sequence_length: int = 64


@dataclasses.dataclass
class RetrievalSettings(RetrievalHparams):
    """The `retrieval:` section: the model (models/retrieval/hparams.py), then its
    tuning and pushing."""
    # > 0 puts TFX's Tuner before the Trainer: a random search of this many trials
    # over learning rate, embedding size, L2 and mask rate (models/retrieval/tuner_module.py).
    tuner_trials: int = 0
    model_name: str = "retrieval"


@dataclasses.dataclass
class TrainerSettings:
    """The `trainer:` section: where the retrieval Trainer trains (models/distribution.py).
    The ranking Trainer always trains on one device."""
    # none: one device. mirrored: every local GPU (tf.distribute.MirroredStrategy; the
    # CPU when there is none). multi_worker: tf.distribute.MultiWorkerMirroredStrategy
    # over the cluster in the TF_CONFIG environment variable, which Vertex AI Training
    # sets for a job of several replicas; only the chief writes the model.
    strategy: str = "none"
    # Vertex AI Training: when set, the retrieval Trainer runs as a Vertex AI custom job
    # (tfx.extensions.google_cloud_ai_platform.Trainer) with these
    # ai_platform_training_args: `project` and a `job_spec` whose worker_pool_specs give
    # each pool's machine_spec, replica_count and container_spec.image_uri (the pipeline
    # image). Needs a bucket output_dir; more than one replica needs multi_worker.
    # Empty: the Trainer runs where the pipeline runs it.
    vertex_training_args: Dict[str, Any] = dataclasses.field(default_factory=dict)
    vertex_region: str = "us-central1"

    def __post_init__(self):
        if self.strategy not in distribution.STRATEGIES:
            raise ValueError(f"trainer.strategy: expected one of "
                             f"{list(distribution.STRATEGIES)}, got {self.strategy!r}")
        if self.vertex_training_args:
            check_vertex_training_args(self.vertex_training_args, self.strategy)


def check_vertex_training_args(args: Dict[str, Any], strategy: str) -> None:
    """ValueError unless `args` has what a Vertex AI custom job needs from us."""
    where = "trainer.vertex_training_args"
    if not isinstance(args.get("project"), str) or not args["project"]:
        raise ValueError(f"{where}: expected the Google Cloud `project`, got {args.get('project')!r}")
    pools = (args.get("job_spec") or {}).get("worker_pool_specs") if isinstance(
        args.get("job_spec"), dict) else None
    if not isinstance(pools, list) or not pools:
        raise ValueError(f"{where}: expected job_spec.worker_pool_specs, a list of worker pools")
    replicas = 0
    for index, pool in enumerate(pools):
        image = (pool.get("container_spec") or {}).get("image_uri") if isinstance(pool, dict) else None
        if not image:
            raise ValueError(f"{where}: job_spec.worker_pool_specs[{index}] has no "
                             "container_spec.image_uri (the pipeline image, which has this package)")
        count = pool.get("replica_count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"{where}: job_spec.worker_pool_specs[{index}].replica_count: "
                             f"expected a positive integer, got {count!r}")
        replicas += count
    if replicas > 1 and strategy != distribution.MULTI_WORKER:
        raise ValueError(f"{where}: {replicas} replicas train together only with trainer.strategy "
                         f"{distribution.MULTI_WORKER!r}, not {strategy!r}")


@dataclasses.dataclass
class EvaluationSettings:
    """The `evaluation:` section: the retrieval model's evaluation and blessing."""
    cutoffs: List[int] = dataclasses.field(default_factory=lambda: [10, 20, 50, 100])
    metric: str = "ndcg@10"
    baseline: str = "popularity"
    # Also scored on the same split, for the report (models/baselines).
    report_baselines: List[str] = dataclasses.field(
        default_factory=lambda: ["itemknn", "ease", "als", "tags_linear"])
    # The model is blessed when metric >= baseline's metric * (1 + min_relative_improvement).
    # When that baseline is skipped (see ease_max_items), the strongest one that ran is used.
    min_relative_improvement: float = 0.0
    # Users scored at a time, by the model and each baseline (fewer when the block
    # would pass 2^24 scores: 284 at 59,047 items): memory holds one batch x
    # catalogue block of scores, never users x catalogue.
    batch_users: int = 1024
    # Above this many users with eval interactions, a seeded random sample of this
    # many is evaluated (the report gives its size and seed); 0 evaluates all.
    max_users: int = 20000
    sample_seed: int = 0
    # EASE inverts a dense items x items matrix: n² x 8 bytes (0.8 GB at 10,000
    # items) and cubic time, once per grid point (8 inversions). On a 10,000-item
    # catalogue it took 92% of the evaluator's time. Above this many catalogue
    # items it is skipped, with the reason in the report; 0 never skips.
    ease_max_items: int = 5000


@dataclasses.dataclass
class RankingSettings(RankingHparams):
    """The `ranking:` section: the model (models/ranking/hparams.py), then its evaluation."""
    # A config that has a ranking section turns the branch on unless it says otherwise.
    enabled: bool = True
    model_name: str = "ranking"
    # Raw features of the eval rows to slice the evaluation by: the user's (an eval row
    # names its item by id only); absent ones give no slices.
    slice_features: List[str] = dataclasses.field(
        default_factory=lambda: ["user_gender", "user_occupation"])
    # Blessing, checked on the overall slice only: RMSE at most max_rmse (rating)
    # or AUC at least min_auc (implicit), and no worse than the latest blessed
    # ranking model by more than change_tolerance. The default bound suits the
    # synthetic catalogue (small sample: mean predictor 1.46, model 1.23); on
    # MovieLens 100K (model 0.88 random rows, 0.98 temporal before the neighbour
    # pools) use 0.95 or 1.05.
    max_rmse: float = 1.3
    min_auc: float = 0.7
    change_tolerance: float = 0.01


@dataclasses.dataclass
class PrivacySettings:
    """The `privacy:` section (data_contract/pseudonyms.py). Paths are relative to the
    config file."""
    # The pseudonym key's file, read when the environment variable
    # UNIREC_PSEUDONYM_KEY is not set; "" = this machine's own key, generated once at
    # $XDG_CONFIG_HOME/tfx-unirec/pseudonym.key.
    key_file: str = ""
    # The erasure list `unirec forget` appends to (pseudonyms, one a line); "" =
    # `<output_dir>-erased-users.txt`, beside the output folder so that deleting the
    # outputs does not bring the users back.
    erased_users_file: str = ""


@dataclasses.dataclass
class PipelineConfig:
    pipeline_name: str = "unirec"
    output_dir: str = "output"
    dataset: Dict[str, Any] = dataclasses.field(default_factory=lambda: dict(DEFAULT_DATASET))
    examples: ExampleSettings = dataclasses.field(default_factory=ExampleSettings)
    text_encoder: TextEncoderSettings = dataclasses.field(default_factory=TextEncoderSettings)
    retrieval: RetrievalSettings = dataclasses.field(default_factory=RetrievalSettings)
    trainer: TrainerSettings = dataclasses.field(default_factory=TrainerSettings)
    evaluation: EvaluationSettings = dataclasses.field(default_factory=EvaluationSettings)
    # The ranking branch: off in a config without a ranking section.
    ranking: RankingSettings = dataclasses.field(
        default_factory=lambda: RankingSettings(enabled=False))
    privacy: PrivacySettings = dataclasses.field(default_factory=PrivacySettings)
    enable_cache: bool = True
    # Passed to every Beam component (ExampleGen, StatisticsGen, Transform, the ranking
    # Evaluator); empty runs Beam in-process; unset, pipeline/beam_args.py chooses by the
    # dataset's size. Presets: configs/multiprocess.yaml (local worker processes),
    # configs/vertex.yaml (Dataflow); Flink and Spark in the README.
    beam_pipeline_args: Optional[List[str]] = None

    @property
    def uses_text(self) -> bool:
        """Whether a model reads item text and the data has some, so the pipeline adds
        the TextEncoder."""
        wanted = self.retrieval.uses_text or (self.ranking.enabled and self.ranking.uses_text)
        return wanted and adapters.declared_content(self.dataset)["item_text"]

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root", self.pipeline_name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_dir, "metadata", self.pipeline_name, "metadata.db")

    @property
    def serving_root(self) -> str:
        return os.path.join(self.output_dir, "serving")

    @property
    def erased_users_path(self) -> str:
        return self.privacy.erased_users_file or self.output_dir + "-erased-users.txt"


def _build(cls, values: Optional[Dict[str, Any]], where: str):
    """Builds dataclass `cls` from a mapping, rejecting keys it does not know and values
    of the wrong type."""
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping of keys, got {values!r}")
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields), key=str)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown}; expected some of {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        nested = _NESTED.get(fields[name].type)
        if nested:
            kwargs[name] = _build(nested, value, f"{where}.{name}")
        else:
            _check_type(value, hints[name], f"{where}.{name}")
            kwargs[name] = value
    return cls(**kwargs)


def _check_type(value: Any, expected: Any, where: str) -> None:
    """Raises ValueError unless `value` fits the field's annotation (ints count as floats)."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if expected is Any:
        return
    if origin is typing.Union:
        for option in args:
            try:
                return _check_type(value, option, where)
            except ValueError:
                pass
    elif origin is list:
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_type(item, args[0] if args else Any, f"{where}[{index}]")
            return
    elif origin is dict:
        if isinstance(value, dict):
            for key, item in value.items():
                _check_type(key, args[0] if args else Any, f"{where} key {key!r}")
                _check_type(item, args[1] if args else Any, f"{where}[{key!r}]")
            return
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return
    elif expected is type(None):
        if value is None:
            return
    elif isinstance(expected, type) and isinstance(value, expected):
        return
    name = getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
    raise ValueError(f"{where}: expected {name}, got {value!r}")


_NESTED = {cls.__name__: cls for cls in (
    SplitConfig, ExampleSettings, TextEncoderSettings, RetrievalSettings, TrainerSettings,
    EvaluationSettings, RankingSettings, PrivacySettings)}

_DATASET_PATH_KEYS = ("data_dir",)


def _resolve_dataset_paths(dataset: Dict[str, Any], base_dir: str) -> Dict[str, Any]:
    """Makes the dataset's file paths absolute, relative to the config file's folder."""
    if not isinstance(dataset, dict):
        raise ValueError(f"dataset: expected a mapping with a name, got {dataset!r}")
    dataset = dict(dataset)
    for key in _DATASET_PATH_KEYS:
        if dataset.get(key):
            dataset[key] = os.path.abspath(os.path.join(base_dir, _path(dataset[key], f"dataset.{key}")))
    for table in ("interactions", "items", "users"):
        if isinstance(dataset.get(table), dict) and dataset[table].get("path"):
            dataset[table] = dict(dataset[table])
            dataset[table]["path"] = os.path.abspath(
                os.path.join(base_dir, _path(dataset[table]["path"], f"dataset.{table}.path")))
    return dataset


def _resolve_privacy_paths(privacy: Any, base_dir: str) -> Any:
    if not isinstance(privacy, dict):
        return privacy  # _build names the error
    privacy = dict(privacy)
    for key in ("key_file", "erased_users_file"):
        if privacy.get(key):
            privacy[key] = os.path.abspath(os.path.join(base_dir, _path(privacy[key], f"privacy.{key}")))
    return privacy


def _path(value: Any, where: str) -> str:
    if not isinstance(value, str) or "\0" in value:
        raise ValueError(f"{where}: expected a path, got {value!r}")
    return value


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
    if isinstance(raw.get("privacy"), dict):
        raw["privacy"] = _resolve_privacy_paths(raw["privacy"], os.path.dirname(os.path.abspath(path)))
    if any(k.startswith("dataset.") for k in overrides or {}):
        raw.setdefault("dataset", dict(DEFAULT_DATASET))  # e.g. --set dataset.shape=ml-1m
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    if "dataset" in (overrides or {}) or any(k.startswith("dataset.") for k in overrides or {}):
        raw["dataset"] = _resolve_dataset_paths(raw["dataset"], os.getcwd())
    if any(k == "privacy" or k.startswith("privacy.") for k in overrides or {}):
        raw["privacy"] = _resolve_privacy_paths(raw["privacy"], os.getcwd())
    config = _build(PipelineConfig, raw, os.path.basename(path))
    if not is_uri(config.output_dir):  # a gs:// bucket path stays as it is
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
    check_family_fits_data(config)
    if config.trainer.vertex_training_args and not is_uri(config.output_dir):
        raise ValueError("trainer.vertex_training_args: a Vertex AI training job reads and writes "
                         f"the pipeline's files, so output_dir must be a bucket path (gs://...), "
                         f"not {config.output_dir!r}")
    return config


def is_uri(path: str) -> bool:
    """Whether `path` names a filesystem by scheme (gs://, s3://) rather than a local path."""
    return "://" in path


def check_family_fits_data(config: PipelineConfig) -> None:
    """Fails when the retrieval family has no item block the dataset can feed (e.g.
    content on data without item text or tags); blocks it can do without (user
    fields, tags) are left out when the Trainer starts, which logs it."""
    content = adapters.declared_content(config.dataset)
    string = types.SimpleNamespace(dtype="string")
    declared = {features.USER_ID: string, features.ITEM_ID: string,
                features.HISTORY_ITEM_IDS: string,
                **({features.ITEM_TEXT: string} if content["item_text"] else {}),
                **({features.ITEM_TAGS: string} if content["item_tags"] else {}),
                **({features.user_feature_name("field"): string}
                   if content["user_fields"] else {})}
    try:
        blocks.usable(families.get(config.retrieval.family).block_names, declared, "retrieval")
    except ValueError as e:
        raise ValueError(f"retrieval.family {config.retrieval.family!r} cannot work on dataset "
                         f"{config.dataset.get('name')!r} ({e}); give the data item text or "
                         "tags, or pick another family") from None


def dataset_overrides(dataset: Optional[str], data_dir: Optional[str]) -> Dict[str, Any]:
    """Command-line dataset flags as overrides: a dataset name replaces the
    config's whole dataset; a data folder alone points the configured one elsewhere."""
    if dataset:
        return {"dataset": {"name": dataset, **({"data_dir": data_dir} if data_dir else {})}}
    return {"dataset.data_dir": data_dir} if data_dir else {}


def _set_dotted(tree: Dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for depth, key in enumerate(parents):
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise ValueError(f"cannot set {dotted}: {'.'.join(parents[:depth + 1])} is {tree!r}, not a section")
    tree[leaf] = value
