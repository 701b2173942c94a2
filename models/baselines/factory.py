"""The baselines by name, each built with defaults chosen on ML-100K, a seed and,
for the tuned ones, the number of users their validation scores at a time and at
most (0: all)."""
import functools
from typing import Callable, Dict

from models.baselines.als import ALS, REGULARIZATION_GRID
from models.baselines.bpr import BPR
from models.baselines.ease import EASE, L2_GRID
from models.baselines.evaluation import USER_BATCH
from models.baselines.interface import Baseline
from models.baselines.itemknn import ItemKNN, NEIGHBOURS_GRID
from models.baselines.popularity import Popularity
from models.baselines.random_baseline import RandomBaseline
from models.baselines.tags_linear import TagsLinear
from models.baselines.tuning import GridSearch


def _itemknn(seed: int, batch_size: int, max_users: int) -> Baseline:
    return GridSearch(ItemKNN, [{"neighbours": k} for k in NEIGHBOURS_GRID], seed=seed,
                      batch_size=batch_size, validation_max_users=max_users)


def _ease(seed: int, batch_size: int, max_users: int) -> Baseline:
    return GridSearch(EASE, [{"l2": l2} for l2 in L2_GRID], seed=seed, batch_size=batch_size,
                      validation_max_users=max_users)


def _als(seed: int, batch_size: int, max_users: int) -> Baseline:
    return GridSearch(functools.partial(ALS, seed=seed),
                      [{"regularization": r} for r in REGULARIZATION_GRID], seed=seed,
                      batch_size=batch_size, validation_max_users=max_users)


BASELINES: Dict[str, Callable[[int, int, int], Baseline]] = {
    "random": lambda seed, batch_size, max_users: RandomBaseline(seed=seed),
    "popularity": lambda seed, batch_size, max_users: Popularity(),
    "itemknn": _itemknn,
    "ease": _ease,
    "als": _als,
    "bpr": lambda seed, batch_size, max_users: BPR(seed=seed),
    "tags_linear": lambda seed, batch_size, max_users: TagsLinear(),
}


def make_baseline(name: str, seed: int = 0, batch_size: int = USER_BATCH,
                  validation_max_users: int = 0) -> Baseline:
    """A new, unfitted baseline; the tuned ones search their grid when fitted."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {sorted(BASELINES)}")
    return BASELINES[name](seed, batch_size, validation_max_users)
