"""The retrieval model's Trainer module: `run_fn` for TFX's generic Trainer.

models/trainer_lib.py runs the steps; this module says which blocks the towers
use (the family), how the model is built and selected, and what the SavedModel
exports.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tf_keras
from absl import logging

from models import blocks, families, features, split_info, towers, trainer_lib
from models import catalogue as catalogue_lib
from models.compiled_adam import CompiledAdam
from models.retrieval import averaging, data, export, item_item, objectives, selection
from models.retrieval import model as model_lib
from models.retrieval.hparams import REFIT_CONTINUE, REFIT_NONE, RetrievalHparams
from models.row_adam import RowAdam
from models.transform import preprocessing


class Retrieval(trainer_lib.ModelType):
    """The family's towers, trained on users with a catalogue softmax, selected on a carve."""
    config_key = "retrieval"
    hparams_class = RetrievalHparams
    distributable = True

    def block_names(self, hparams: RetrievalHparams, split: split_info.SplitInfo
                    ) -> Sequence[str]:
        names = families.get(hparams.family).block_names
        if split.order_matters:
            return names
        unordered = [name for name in names if not blocks.get(name).order_aware]
        if len(unordered) < len(names):
            logging.warning("retrieval: the split is random, so the order of a history says "
                            "nothing about what is held out; left out %s",
                            [name for name in names if name not in unordered])
        return unordered

    def build_model(self, run: trainer_lib.TrainingRun) -> model_lib.RetrievalModel:
        hparams = run.hparams
        context = run.block_context(
            l2=hparams.l2, sequence_length=hparams.sequence_length,
            sequence_heads=hparams.sequence_heads, sequence_dropout=hparams.sequence_dropout)
        query_tower, item_tower = towers.build_towers(run.block_names, context)
        pairwise = [blocks.build(name, context) for name in run.block_names
                    if blocks.get(name).item_item]
        return model_lib.RetrievalModel(
            query_tower, item_tower, vocabulary_items(run),
            objective=objectives.resolve(hparams.objective, run.split.order_matters),
            mask_rate=hparams.mask_rate, future_min=hparams.future_min,
            future_max=hparams.future_max,
            id_dropout=families.get(hparams.family).id_dropout,
            full_softmax_max_items=hparams.full_softmax_max_items,
            sampled_negatives=hparams.sampled_negatives,
            item_popularity=item_popularity(run), item_item=pairwise[0] if pairwise else None)

    def fit(self, run: trainer_lib.TrainingRun, log_dir: Optional[str] = None
            ) -> Tuple[model_lib.RetrievalModel, Dict[str, List[float]]]:
        return select_and_refit(self, run, log_dir)

    def export(self, model: model_lib.RetrievalModel, run: trainer_lib.TrainingRun,
               export_dir: str) -> None:
        export.export_serving_model(model, run, export_dir)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What model selection compares: an objective and the blocks it trains."""
    objective: str
    block_names: Tuple[str, ...]


def recipes(run: trainer_lib.TrainingRun) -> List[Recipe]:
    """The recipes model selection tries. "auto" on a temporal split tries both
    learning the future with the order-aware blocks and denoising without them:
    which one wins depends on the data (MovieLens 100K: the first; the synthetic
    catalogue, whose order carries less: the second)."""
    hparams, names = run.hparams, tuple(run.block_names)
    unordered = tuple(name for name in names if not blocks.get(name).order_aware)
    if hparams.objective != objectives.AUTO:
        return [Recipe(hparams.objective, names)]
    if not run.split.order_matters:
        return [Recipe(objectives.DENOISE, unordered)]
    return [Recipe(objectives.FUTURE, names), Recipe(objectives.DENOISE, unordered)]


def with_recipe(run: trainer_lib.TrainingRun, recipe: Recipe) -> trainer_lib.TrainingRun:
    return dataclasses.replace(
        run, block_names=list(recipe.block_names),
        hparams=dataclasses.replace(run.hparams, objective=recipe.objective))


@dataclasses.dataclass
class Candidate:
    """A recipe's model in model selection, its scorer and its training history."""
    recipe: Recipe
    model: model_lib.RetrievalModel
    scorer: selection.ValidationNDCG
    history: Dict[str, List[float]]
    average: Optional[averaging.WeightAverage] = None

    @property
    def callbacks(self) -> List[tf_keras.callbacks.Callback]:
        return [self.scorer] if self.average is None else [self.average, self.scorer]


def average_horizon(epochs: float, num_users: int, batch_size: int) -> float:
    """The steps of `epochs` epochs over `num_users` users."""
    return max(1.0, epochs * -(-num_users // batch_size))


def weight_average(hparams: RetrievalHparams, num_users: int, batch_size: int,
                   epochs: Optional[float] = None) -> Optional[averaging.WeightAverage]:
    """The moving average of the weights over `epochs` (default: the config's
    `weight_average_epochs`) epochs of steps; None when the config turns it off."""
    if hparams.weight_average_epochs <= 0:
        return None
    return averaging.WeightAverage(average_horizon(
        hparams.weight_average_epochs if epochs is None else epochs, num_users, batch_size))


def optimizer(model: model_lib.RetrievalModel, hparams: RetrievalHparams
              ) -> tf_keras.optimizers.Optimizer:
    """Adam, its dense updates compiled (models/compiled_adam.py); row-wise Adam when
    the model samples its softmax (a step's gradient then covers a few rows of the
    item tables, and a whole-table update would cost more than the step)."""
    return (RowAdam if model.sampled else CompiledAdam)(hparams.learning_rate)


def epochs_within_budget(hparams: RetrievalHparams, steps_per_epoch: int,
                         epochs_done: int = 0, steps_done: int = 0) -> int:
    """The epoch to train up to: `epochs`, or earlier where `max_steps`, less the
    `steps_done` in the `epochs_done` so far, runs out (never before one epoch)."""
    if hparams.max_steps <= 0:
        return hparams.epochs
    more = (hparams.max_steps - steps_done) // max(1, steps_per_epoch)
    return min(hparams.epochs, max(1, epochs_done, epochs_done + more))


def train_candidate(model_type: Retrieval, run: trainer_lib.TrainingRun, recipe: Recipe,
                    fit_batches, validation, epochs: int, log_dir: Optional[str] = None,
                    average: Optional[averaging.WeightAverage] = None) -> Candidate:
    """Builds the recipe's model and fits it for `epochs` (or until patience runs out),
    scoring the validation carve (with the `average`d weights, if given) every
    `validation_every` epochs."""
    hparams = run.hparams
    tf_keras.utils.set_random_seed(hparams.seed)
    scorer = selection.ValidationNDCG(validation, hparams.validation_every, hparams.patience,
                                      average)
    model = model_type.build_model(with_recipe(run, recipe))
    logging.info("retrieval: selecting %s", recipe)
    candidate = Candidate(recipe, model, scorer, {}, average)
    candidate.history = trainer_lib.compile_and_fit(
        model, optimizer(model, hparams), fit_batches, epochs,
        log_dir=log_dir and f"{log_dir}/{recipe.objective}", callbacks=candidate.callbacks)
    return candidate


def train_on(candidate: Candidate, fit_batches, epochs: int, log_dir: Optional[str] = None
             ) -> None:
    """Continues the candidate's training up to `epochs` (or until patience runs out)."""
    if candidate.scorer.stopped or candidate.scorer.last_epoch >= epochs:
        return
    more = trainer_lib.fit(candidate.model, fit_batches, epochs,
                           initial_epoch=candidate.scorer.last_epoch,
                           log_dir=log_dir and f"{log_dir}/{candidate.recipe.objective}",
                           callbacks=candidate.callbacks)
    for name, values in more.items():
        candidate.history[name] = candidate.history.get(name, []) + values


def select_and_refit(model_type: Retrieval, run: trainer_lib.TrainingRun,
                     log_dir: Optional[str] = None
                     ) -> Tuple[model_lib.RetrievalModel, Dict[str, List[float]]]:
    """Model selection on a validation carve, then the refit.

    Every recipe is fitted on histories without their validation carve for
    `race_epochs` (on a sample of `race_max_users` users when there are more),
    scoring the carve every `validation_every` epochs; only the leader goes on,
    on every user, until the carve's score stops improving (`patience`),
    `epochs` or its `max_steps` (the race's included), and keeps its best
    epoch's weights. Its item-item block, if any,
    is then fitted and its scale and decay chosen on the carve
    (models/retrieval/item_item.py). The refit (hparams.refit) then lets the
    model learn from the carved items too: "continue" trains the chosen model on
    whole histories for `refit_epochs` more epochs, "scratch" fits the recipe
    anew on whole histories for its best number of epochs (slower: a second
    model to build and train), "none" keeps the selected model. The item-item
    weights are fitted again on whole histories, at the chosen scale and decay.

    Returns:
      (the model, its history: per recipe the selection's losses and validation
      scores, then the refit's losses, the chosen recipe and epochs).
    """
    hparams = run.hparams
    vocab_size = (run.tft_output.vocabulary_size_by_name(preprocessing.ITEM_ID_VOCAB)
                  + preprocessing.NUM_OOV_BUCKETS)
    run = dataclasses.replace(run, block_names=item_item.within_size(
        run.block_names, vocab_size, hparams.item_item_max_items))
    num_users = run.tft_output.vocabulary_size_by_name(preprocessing.USER_ID_VOCAB)
    batch_size = max(1, min(hparams.batch_size, num_users // hparams.min_steps_per_epoch))
    users = data.users(run)
    fit_part, validation = data.carved(
        users, hparams.validation_fraction, run.split.order_matters, hparams.seed)
    if 0 < hparams.validation_max_users < num_users:
        logging.info("retrieval: the carve is scored on a sample of about %d of %d users",
                     hparams.validation_max_users, num_users)
        validation = data.sampled(validation, hparams.validation_max_users / num_users,
                                  hparams.seed)
    fit_batches = data.shuffled(fit_part, batch_size, hparams.seed)
    tried = recipes(run)
    race_epochs = hparams.race_epochs if len(tried) > 1 else hparams.epochs
    race_batches, race_users = fit_batches, num_users
    if len(tried) > 1 and 0 < hparams.race_max_users < num_users:
        race_users = hparams.race_max_users
        logging.info("retrieval: the race trains on a sample of about %d of %d users",
                     hparams.race_max_users, num_users)
        race_batches = data.shuffled(
            data.sampled(fit_part, hparams.race_max_users / num_users, hparams.seed),
            batch_size, hparams.seed)
    race_steps_per_epoch = -(-race_users // batch_size)
    candidates = [train_candidate(model_type, run, recipe, race_batches, validation,
                                  min(race_epochs, epochs_within_budget(
                                      hparams, race_steps_per_epoch)), log_dir,
                                  weight_average(hparams, race_users, batch_size))
                  for recipe in tried]
    best = max(candidates, key=lambda candidate: candidate.scorer.best_score)
    if best.average is not None and race_users < num_users:
        # The leader goes on over every user: more steps an epoch.
        best.average.set_horizon(
            average_horizon(hparams.weight_average_epochs, num_users, batch_size))
    race_done = best.scorer.last_epoch
    leader_epochs = epochs_within_budget(hparams, -(-num_users // batch_size), race_done,
                                         race_done * race_steps_per_epoch)
    if leader_epochs < hparams.epochs:
        logging.info("retrieval: the leader trains to epoch %d at most (retrieval.max_steps "
                     "%d)", leader_epochs, hparams.max_steps)
    train_on(best, fit_batches, leader_epochs, log_dir)
    history: Dict[str, List] = {}
    for candidate in candidates:
        objective = candidate.recipe.objective
        history.update({f"{objective}_{name}": values
                        for name, values in candidate.history.items()})
        history[f"{objective}_validation_epochs"] = list(candidate.scorer.scores)
        history[f"{objective}_{selection.METRIC}"] = list(candidate.scorer.scores.values())
    recipe, scorer, model = best.recipe, best.scorer, best.model
    scorer.restore_best(model)
    history.update({"selection_loss": history.get(f"{recipe.objective}_loss", []),
                    "validation_epochs": list(scorer.scores),
                    selection.METRIC: list(scorer.scores.values()),
                    "best_epoch": [scorer.best_epoch], "objective": [recipe.objective]})
    logging.info("retrieval: chose %s, best %s %.4f after %d epochs", recipe, selection.METRIC,
                 scorer.best_score, scorer.best_epoch)
    # An untrained model (no epoch ran) stays untrained: no item-item term either.
    sequence_weight = 0.0
    if model.item_item is not None and scorer.best_epoch > 0:
        weights = item_item.fit_weights(fit_part, model.item_item.vocab_size,
                                        hparams.item_item_l2)
        # On a random split the order of a history says nothing about what is held out.
        order_matters = run.split.order_matters
        (decay, sequence_weight, scale), scores = item_item.choose_blend(
            model, validation, weights,
            hparams.item_item_sequence_weights if order_matters else [0.0],
            hparams.item_item_scales, hparams.item_item_decays if order_matters else [1.0])
        history.update({"item_item_decay": [decay], "item_item_scale": [scale],
                        "item_item_sequence_weight": [sequence_weight],
                        f"item_item_{selection.METRIC}": [scores[key] for key in sorted(scores)]})
        logging.info("retrieval: item-item decay %s, sequence weight %s, scale %s: %s %.4f "
                     "(%.4f without the term)", decay, sequence_weight, scale, selection.METRIC,
                     scores[(decay, sequence_weight, scale)],
                     scores.get((decay, sequence_weight, 0.0), float("nan")))
    if hparams.refit == REFIT_NONE or scorer.best_epoch == 0:
        return model, history
    whole_batches = data.shuffled(users, batch_size, hparams.seed)
    # The carve cannot score the refit, which learns it: its average spans at most half
    # of its epochs, so that the weights that learnt the carved items outweigh the rest.
    refit_epochs = hparams.refit_epochs if hparams.refit == REFIT_CONTINUE else scorer.best_epoch
    average = weight_average(hparams, num_users, batch_size,
                             min(hparams.weight_average_epochs, refit_epochs / 2))
    averages = [average] if average is not None else []
    if hparams.refit == REFIT_CONTINUE:
        refitted = model
        history.update(trainer_lib.fit(
            model, whole_batches, hparams.refit_epochs, log_dir=log_dir and f"{log_dir}/refit",
            callbacks=averages))
    else:
        tf_keras.utils.set_random_seed(hparams.seed)
        refitted = model_type.build_model(with_recipe(run, recipe))
        history.update(trainer_lib.compile_and_fit(
            refitted, optimizer(refitted, hparams), whole_batches,
            scorer.best_epoch, log_dir=log_dir and f"{log_dir}/refit", callbacks=averages))
    if average is not None:
        average.apply()
    if refitted.item_item is not None:
        refitted.item_item.matrix.assign(item_item.fit_weights(
            users, refitted.item_item.vocab_size, hparams.item_item_l2).blend(sequence_weight))
        refitted.item_item.scale.assign(model.item_item.scale)
        refitted.item_item.decay.assign(model.item_item.decay)
    return refitted, history


def vocabulary_items(run: trainer_lib.TrainingRun) -> Dict[str, object]:
    """What the item tower reads for every vocabulary item (and the OOV row)."""
    return catalogue_lib.vocabulary_items(run.catalogue, run.tft_output)


def item_popularity(run: trainer_lib.TrainingRun) -> Optional[np.ndarray]:
    """Each vocabulary item's share of the items in the users' histories, for the
    sampled softmax's correction; None when the softmax covers the whole catalogue."""
    num_items = run.tft_output.vocabulary_size_by_name(preprocessing.ITEM_ID_VOCAB)
    if num_items <= run.hparams.full_softmax_max_items:
        return None
    totals = np.zeros(num_items + preprocessing.NUM_OOV_BUCKETS)
    for batch in data.users(run):
        totals += np.bincount(batch[features.HISTORY_ITEM_IDS].values.numpy(),
                              minlength=len(totals))
    return (totals[:num_items] / max(totals.sum(), 1.0)).astype(np.float32)


def run_fn(fn_args) -> None:
    """Trains the retrieval model and writes its serving SavedModel (TFX generic Trainer).

    Args:
      fn_args: TFX's FnArgs. `custom_config["retrieval"]` holds the RetrievalHparams
        fields (the Tuner's best values, when given, override them); `base_model`,
        when the family reads text, is the TextEncoder's model.
    """
    trainer_lib.run(fn_args, Retrieval())
