"""Baselines scored on the same split as the model, over the full catalogue."""
from models.baselines.als import ALS
from models.baselines.bpr import BPR
from models.baselines.ease import EASE
from models.baselines.evaluation import evaluate
from models.baselines.interface import Baseline, binarize
from models.baselines.itemknn import ItemKNN
from models.baselines.popularity import Popularity
from models.baselines.random_baseline import RandomBaseline
from models.baselines.factory import BASELINES, make_baseline
from models.baselines.splits import holdout_per_user
from models.baselines.tags_linear import TagsLinear, multi_hot
from models.baselines.tuning import GridSearch

__all__ = ["ALS", "BPR", "BASELINES", "Baseline", "EASE", "GridSearch", "ItemKNN",
           "Popularity", "RandomBaseline", "TagsLinear", "binarize", "evaluate",
           "holdout_per_user", "make_baseline", "multi_hot"]
