"""Tags-linear: per-user ridge regression on item tags; scores items nobody interacted with."""
from typing import Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from models.baselines.interface import Baseline, ItemFeatures, binarize


def multi_hot(tag_lists: Sequence[Sequence[str]]) -> Tuple[np.ndarray, Tuple[str, ...]]:
    """(items × tags 0/1 matrix, the tags in column order, sorted)."""
    vocabulary = tuple(sorted({tag for tags in tag_lists for tag in tags}))
    column = {tag: index for index, tag in enumerate(vocabulary)}
    matrix = np.zeros((len(tag_lists), len(vocabulary)))
    for row, tags in enumerate(tag_lists):
        matrix[row, [column[tag] for tag in tags]] = 1.0
    return matrix, vocabulary


def with_intercept(item_features: ItemFeatures) -> np.ndarray:
    features = item_features.toarray() if sp.issparse(item_features) else item_features
    features = np.asarray(features, dtype=np.float64)
    return np.hstack([features, np.ones((features.shape[0], 1))])


class TagsLinear(Baseline):
    """score(u, i) = w_u · [tags_i, 1], w_u the ridge solution of "u interacted with i" (1 or 0)
    over the items with training interactions.

    Items without training interactions are left out of the regression: nobody
    could interact with them, so their 0s would only say they were held out.
    """

    def __init__(self, l2: float = 300.0):
        self.l2 = l2

    def fit(self, train: sp.spmatrix, item_features: Optional[ItemFeatures] = None) -> "TagsLinear":
        if item_features is None:
            raise ValueError("TagsLinear needs item_features (items × tags)")
        train = binarize(train)
        self.item_features = item_features
        tags = with_intercept(item_features)
        interacted = np.asarray(train.sum(axis=0)).ravel() > 0
        observed_tags = tags[interacted]
        gram = observed_tags.T @ observed_tags + self.l2 * np.eye(tags.shape[1])
        targets_times_tags = np.asarray(train[:, interacted] @ observed_tags)
        self.user_weights = np.linalg.solve(gram, targets_times_tags.T).T
        return self

    def score(self, user_indices: Sequence[int]) -> np.ndarray:
        return self.score_items(user_indices, self.item_features)

    def score_items(self, user_indices: Sequence[int], item_features: ItemFeatures) -> np.ndarray:
        """Scores of any items, catalogue or new, from their tags (same columns as at fit)."""
        return self.user_weights[np.asarray(user_indices)] @ with_intercept(item_features).T
