"""The Trainer skeleton every model type shares (TFX's generic Trainer calls `run_fn`).

A model type's trainer_module.py describes its model as a `ModelType` and its
`run_fn` is `trainer_lib.run(fn_args, ModelType())`, which does:

  hparams from custom_config[config_key] (and the Tuner's best hyperparameters)
  -> the feature blocks the data has (models/blocks.py; a side left without one fails)
  -> the text encoder (the Trainer's base_model) when a block reads text
  -> the item catalogue (candidates split), each item text encoded once
  -> the model type's `fit`, in the scope of the distribution strategy that
     custom_config[STRATEGY_KEY] names (models/distribution.py): by default,
     batches of the train split's rows (raw tf.Examples through the Transform
     graph) -> its model -> compile and fit, TensorBoard in the ModelRun
  -> on the chief: history.json in the ModelRun, the model type's SavedModel
     export (other workers export to a folder they delete)

The Trainer applies the Transform graph itself (the TFT layer), so training,
evaluation and serving share it, and reads the TFRecord files as a stream.
"""
import abc
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from models import blocks, distribution, features, split_info
from models import catalogue as catalogue_lib
from models.transform import preprocessing

HISTORY_FILE = "history.json"  # per-epoch losses, in the Trainer's ModelRun
STRATEGY_KEY = "strategy"  # custom_config: trainer.strategy (models/distribution.py)


@dataclasses.dataclass
class TrainingRun:
    """What the skeleton prepares before a model type builds its model."""
    hparams: Any
    tft_output: tft.TFTransformOutput
    block_names: List[str]  # the asked-for blocks that the data has, in the order asked
    catalogue: catalogue_lib.Catalogue
    train_files: List[str]
    eval_files: List[str]
    text_encoder: Optional[Any] = None  # the loaded text encoder SavedModel
    item_text_table: Optional[np.ndarray] = None  # catalogue.item_text_table
    split: split_info.SplitInfo = split_info.SplitInfo(order_matters=True)

    def split_files(self, split: str) -> List[str]:
        """File patterns of another split of the Examples artifact."""
        return split_file_patterns(self.train_files, split)

    def item_join(self, names: Sequence[str]) -> catalogue_lib.ItemJoin:
        """Looks up the item features among `names` by item id, for interaction rows."""
        return catalogue_lib.ItemJoin(self.catalogue, self.tft_output,
                                      [name for name in names if features.is_item_feature(name)])

    @property
    def raw_feature_spec(self) -> Dict[str, Any]:
        return self.tft_output.raw_feature_spec()

    def block_context(self, id_dropout: float = 0.0, **settings) -> blocks.BlockContext:
        """Vocabulary sizes and user and item fields from the Transform output; `settings`
        sets BlockContext's other fields (l2, sequence_length, ...)."""
        raw_spec = self.raw_feature_spec
        user_fields = blocks.user_fields(raw_spec)
        categorical = [name for name in user_fields if raw_spec[name].dtype == tf.string]
        numeric = [name for name in user_fields if raw_spec[name].dtype != tf.string]
        vocab_names = {features.USER_ID: preprocessing.USER_ID_VOCAB,
                       features.ITEM_ID: preprocessing.ITEM_ID_VOCAB,
                       **{name: name for name in categorical}}
        if features.ITEM_TAGS in raw_spec:
            vocab_names[features.ITEM_TAGS] = preprocessing.ITEM_TAGS_VOCAB
        sizes = {name: self.tft_output.vocabulary_size_by_name(vocab)
                 + preprocessing.NUM_OOV_BUCKETS for name, vocab in vocab_names.items()}
        return blocks.BlockContext(
            self.hparams.embedding_dim, sizes, categorical, numeric,
            blocks.item_numeric_fields(raw_spec), self.item_text_table, id_dropout, **settings)


class ModelType(abc.ABC):
    """What one kind of model adds to the skeleton: its blocks, model and export.

    Its hparams (`hparams_class`, built from `custom_config[config_key]`) must have
    `seed`, `epochs`, `batch_size`, `learning_rate`, `embedding_dim` and
    `text_batch_size`.

    Example (models/retrieval/trainer_module.py is a complete one):

    ```python
    class MyModel(trainer_lib.ModelType):
        config_key = "my_model"
        hparams_class = MyHparams

        def block_names(self, hparams):
            return ["user_id", "item_id"]

        def build_model(self, run):
            return MyTfrsModel(run.block_context(), run.block_names)

        def export(self, model, run, export_dir):
            tf.saved_model.save(MyServingModule(model, run.tft_output), export_dir)


    def run_fn(fn_args):
        trainer_lib.run(fn_args, MyModel())
    ```
    """
    config_key: str
    hparams_class: type
    # Whether fit and its loss are right under a distribution strategy (the loss is
    # each replica's share of the global batch's mean, the decisions agreed).
    distributable: bool = False

    @abc.abstractmethod
    def block_names(self, hparams, split: split_info.SplitInfo) -> Sequence[str]:
        """The feature blocks the model asks for; those the data lacks are left out."""

    def labels(self, hparams, raw_feature_spec) -> List[str]:
        """Raw features the loss reads besides the blocks' (raises if the data lacks them)."""
        return []

    def datasets(self, run: TrainingRun, train: tf.data.Dataset,
                 evaluation: tf.data.Dataset) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
        """Adds what the model's loss needs to the transformed train and eval batches."""
        return train, evaluation

    @abc.abstractmethod
    def build_model(self, run: TrainingRun) -> tf_keras.Model:
        """The untrained model (a tfrs.Model) over `run.block_names`."""

    def optimizer(self, hparams) -> tf_keras.optimizers.Optimizer:
        return tf_keras.optimizers.Adam(hparams.learning_rate)

    def fit(self, run: TrainingRun, log_dir: Optional[str] = None
            ) -> Tuple[tf_keras.Model, Dict[str, List[float]]]:
        """Builds and fits the model; returns it and its per-epoch losses and metrics.

        By default: batches of the train split's rows, `hparams.epochs` epochs, the
        eval split's loss reported beside the training loss.
        """
        return fit_on_interactions(self, run, log_dir)

    @abc.abstractmethod
    def export(self, model: tf_keras.Model, run: TrainingRun, export_dir: str) -> None:
        """Saves the serving SavedModel (raw features in, the Transform graph inside)."""


def run(fn_args, model_type: ModelType) -> None:
    """The body of a trainer module's `run_fn`.

    Args:
      fn_args: TFX's FnArgs; `base_model`, when given, is the TextEncoder's model;
        `custom_config[STRATEGY_KEY]` names the distribution strategy (models/distribution.py).
      model_type: the model to train.
    """
    settings = dict(fn_args.custom_config[model_type.config_key])
    settings.update(tuned_values(fn_args.hyperparameters))
    hparams = model_type.hparams_class(**settings)
    strategy_name = fn_args.custom_config.get(STRATEGY_KEY, distribution.NONE)
    if strategy_name != distribution.NONE and not model_type.distributable:
        raise ValueError(f"{model_type.config_key}: trains under trainer.strategy "
                         f"{distribution.NONE!r} only, not {strategy_name!r}")
    strategy = distribution.strategy(strategy_name)
    training_run = prepare(
        model_type, hparams, tft.TFTransformOutput(fn_args.transform_graph_path),
        fn_args.train_files, fn_args.eval_files,
        split_file_patterns(fn_args.train_files, features.CANDIDATES_SPLIT), fn_args.base_model)
    chief = distribution.is_chief(strategy)
    tf_keras.utils.set_random_seed(hparams.seed)
    with strategy.scope():
        model, history = model_type.fit(training_run,
                                        log_dir=fn_args.model_run_dir if chief else None)
    if chief:
        write_history(history, os.path.join(fn_args.model_run_dir, HISTORY_FILE))
        model_type.export(model, training_run, fn_args.serving_model_dir)
    else:
        # Every worker saves (saving distributed variables may need all of them); the
        # others into a folder of their own that they delete (TensorFlow's multi-worker
        # Keras tutorial).
        scratch = tempfile.mkdtemp(prefix="unirec-worker-export-")
        try:
            model_type.export(model, training_run, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    # No worker returns before the chief's model is written: TFX checks it is there.
    distribution.barrier(strategy)


def tuned_values(hyperparameters: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The values of the Tuner's best hyperparameters (KerasTuner's config), if any."""
    if not hyperparameters:
        return {}
    return dict(hyperparameters.get("values", hyperparameters))


def prepare(model_type: ModelType, hparams, tft_output: tft.TFTransformOutput,
            train_files: Sequence[str], eval_files: Sequence[str],
            candidate_files: Sequence[str], text_encoder_path: Optional[str] = None
            ) -> TrainingRun:
    """Picks the blocks the data has, loads the text encoder if they read text, reads the catalogue.

    Args:
      model_type: the model to train.
      hparams: its hyperparameters.
      tft_output: the Transform output (graph, vocabularies, raw feature spec).
      train_files, eval_files, candidate_files: file patterns of the Examples splits.
      text_encoder_path: the exported text encoder; required when a usable block reads text.

    Returns:
      The TrainingRun that `train` and the model type's export read.
    """
    raw_spec = tft_output.raw_feature_spec()
    split = split_info.read(examples_uri(train_files))
    usable = blocks.usable(model_type.block_names(hparams, split), raw_spec,
                           model_type.config_key)
    encoder = None
    if blocks.needs_text(usable):
        if not text_encoder_path:
            raise ValueError(f"{model_type.config_key}: blocks {usable} need the text encoder "
                             "as the Trainer's base_model")
        encoder = load_text_encoder(text_encoder_path)
    catalogue = catalogue_lib.read_catalogue(
        candidate_files, raw_spec,
        blocks.raw_features(blocks.on_side(usable, blocks.CANDIDATE), raw_spec),
        encoder, hparams.text_batch_size)
    return TrainingRun(
        hparams, tft_output, usable, catalogue, list(train_files), list(eval_files), encoder,
        catalogue_lib.item_text_table(catalogue, tft_output) if encoder else None, split)


def fit_on_interactions(model_type: ModelType, training_run: TrainingRun,
                        log_dir: Optional[str] = None
                        ) -> Tuple[tf_keras.Model, Dict[str, List[float]]]:
    """ModelType.fit's default: the train split's rows, the eval split's loss beside."""
    hparams, tft_output = training_run.hparams, training_run.tft_output
    text_table = training_run.item_text_table
    raw_spec = tft_output.raw_feature_spec()
    names = list(dict.fromkeys([features.ITEM_ID,
                                *blocks.raw_features(training_run.block_names, raw_spec),
                                *model_type.labels(hparams, raw_spec)]))
    item_join = training_run.item_join(names)
    row_names = [n for n in names if not features.is_item_feature(n)]
    train_data = dataset(training_run.train_files, tft_output, row_names, hparams.batch_size,
                         text_table, shuffle_seed=hparams.seed, item_join=item_join)
    eval_data = dataset(training_run.eval_files, tft_output, row_names, hparams.batch_size,
                        text_table, item_join=item_join)
    train_data, eval_data = model_type.datasets(training_run, train_data, eval_data)
    model = model_type.build_model(training_run)
    history = compile_and_fit(model, model_type.optimizer(hparams), train_data, hparams.epochs,
                              log_dir=log_dir, validation_data=eval_data)
    return model, history


def compile_and_fit(model: tf_keras.Model, optimizer: tf_keras.optimizers.Optimizer,
                    data: tf.data.Dataset, epochs: int, log_dir: Optional[str] = None,
                    callbacks: Sequence[tf_keras.callbacks.Callback] = (),
                    validation_data: Optional[tf.data.Dataset] = None
                    ) -> Dict[str, List[float]]:
    """Compiles and fits `model` (one line per epoch off a terminal, a progress bar
    on one), TensorBoard logs in `log_dir`; returns the per-epoch history. Under a
    distribution strategy, call it in the strategy's scope."""
    model.compile(optimizer=optimizer)
    return fit(model, data, epochs, log_dir=log_dir, callbacks=callbacks,
               validation_data=validation_data)


def fit(model: tf_keras.Model, data: tf.data.Dataset, epochs: int, initial_epoch: int = 0,
        log_dir: Optional[str] = None, callbacks: Sequence[tf_keras.callbacks.Callback] = (),
        validation_data: Optional[tf.data.Dataset] = None) -> Dict[str, List[float]]:
    """Fits a compiled `model` from `initial_epoch` to `epochs` (its optimizer's state
    carries on, so a second call continues the first); as compile_and_fit otherwise."""
    callbacks = list(callbacks)
    if log_dir:
        callbacks.append(tf_keras.callbacks.TensorBoard(log_dir=log_dir))
    if validation_data is not None:
        validation_data = distribution.distributed_input(validation_data)
    history = model.fit(distribution.distributed_input(data.prefetch(2)),
                        validation_data=validation_data, epochs=epochs,
                        initial_epoch=initial_epoch, callbacks=callbacks,
                        verbose=1 if sys.stdout.isatty() else 2)
    return {name: [float(v) for v in values] for name, values in history.history.items()}


def examples_uri(train_files: Sequence[str]) -> str:
    """The Examples artifact's folder, from the train split's file patterns."""
    return os.path.dirname(os.path.dirname(train_files[0]))


def read_raw_examples(file_patterns: Sequence[str], feature_spec: Dict[str, Any],
                      batch_size: int, shuffle_seed: Optional[int] = None) -> tf.data.Dataset:
    """Batches of parsed raw tf.Examples from gzipped TFRecord files."""
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no example files match {list(file_patterns)}")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle_seed is not None:
        records = records.shuffle(200_000, seed=shuffle_seed, reshuffle_each_iteration=True)
    return records.batch(batch_size).map(
        lambda batch: tf.io.parse_example(batch, feature_spec),
        num_parallel_calls=tf.data.AUTOTUNE)


def dataset(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput,
            names: Sequence[str], batch_size: int,
            item_text_table: Optional[np.ndarray] = None,
            shuffle_seed: Optional[int] = None,
            item_join: Optional[catalogue_lib.ItemJoin] = None) -> tf.data.Dataset:
    """Transformed batches of the raw features `names`, plus each item's text embedding
    (features.ITEM_TEXT_EMBEDDING) when there is an item text table and, with an
    `item_join`, its transformed item features looked up by the rows' item ids."""
    raw_spec = tft_output.raw_feature_spec()
    raw = read_raw_examples(file_patterns, {n: raw_spec[n] for n in names}, batch_size,
                            shuffle_seed)
    tft_layer = tft_output.transform_features_layer()
    # Without AutoGraph: tf.data would otherwise rewrite the source of the Transform
    # graph's restored functions, about 10 s per dataset built (ML-1M's users split,
    # whose pass takes 0.3 s); nothing here branches on a tensor's value.
    if item_join is None:
        transform = tft_layer
    else:
        def transform(batch):
            return {**tft_layer(batch),
                    **item_join(tf.reshape(batch[features.ITEM_ID], [-1]))}
    transformed = raw.map(tf.autograph.experimental.do_not_convert(transform),
                          num_parallel_calls=tf.data.AUTOTUNE)
    if item_text_table is None:
        return transformed
    table = tf.constant(item_text_table)
    return transformed.map(lambda batch: {
        **batch, features.ITEM_TEXT_EMBEDDING: tf.gather(table, batch[features.ITEM_ID])})


def split_file_patterns(train_files: Sequence[str], split: str) -> List[str]:
    """File patterns of another split of the Examples artifact that `train_files` come from.

    FnArgs holds the train split's file patterns (`<examples uri>/Split-train/*`),
    not the artifact, so the artifact is rebuilt from them.
    """
    patterns = []
    for pattern in train_files:
        examples = standard_artifacts.Examples()
        examples.uri = os.path.dirname(os.path.dirname(pattern))
        examples.split_names = artifact_utils.encode_split_names([split])
        patterns.append(io_utils.all_files_pattern(artifact_utils.get_split_uri([examples], split)))
    return patterns


def load_text_encoder(path: str):
    """The exported text encoder (models/text_encoder), its tokenizer ops registered."""
    import tensorflow_text  # noqa: F401  registers the encoder's tokenizer ops

    return tf.saved_model.load(path)


def write_history(history: Dict[str, List[float]], path: str) -> None:
    """Per-epoch losses and metrics as JSON, for the benchmark's training curves."""
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(history, f)
