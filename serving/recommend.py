"""Two-stage recommendation over TF Serving: retrieve candidates, rank them, drop what was seen.

Works with any client that has `predict` and `metadata` like serving.client's
RestClient and GrpcClient:

    from data_contract.pseudonyms import Pseudonymiser, resolve_key

    recommender = TwoStageRecommender(RestClient("127.0.0.1", 8501),
                                      pseudonymiser=Pseudonymiser(resolve_key()))
    result = recommender.recommend(UserQuery("u0001", history_item_ids=["i00012"]), k=10)

The models know users by their pseudonyms (data_contract/pseudonyms.py): with a
`pseudonymiser` (the pipeline's key) the recommender sends the pseudonym of the
query's raw user id; without one, the query's user id is sent as is (it must
already be a pseudonym).

The retrieval model's `retrieve` signature gives the candidates (its top k, best
first); the ranking model's `score` signature scores each (user, candidate) pair.
If the ranking model is not served, the candidates keep their retrieval order and
`Recommendations.fallback_reason` says why. `explain` asks the retrieval model's
`explain` signature why it scored items as it did: each history item's exact
share of the score ("because you liked X and Y").
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from models import features
from serving.client import ModelNotFoundError, ServingClientError

RETRIEVAL_MODEL = "retrieval"
RANKING_MODEL = "ranking"
RETRIEVE_SIGNATURE = "retrieve"
SCORE_SIGNATURE = "score"
EXPLAIN_SIGNATURE = "explain"
EXPLAINED_ITEM_IDS = "item_ids"   # the explain signature's input besides the user's


class PredictClient(Protocol):
    def predict(self, model: str, inputs: Mapping[str, Any], signature_name: str | None = None,
                version: int | None = None) -> dict[str, np.ndarray]:
        ...

    def metadata(self, model: str, version: int | None = None) -> dict:
        ...


@dataclasses.dataclass(frozen=True)
class UserQuery:
    """One user: id, recent items (most recent first) and any other user features by input name."""

    user_id: str
    history_item_ids: Sequence[str] = ()
    features: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why the retrieval model scored an item as it did. Shares are of the sum of
    the score's absolute terms, so they are comparable across items; a negative
    share is evidence against the item."""

    item_id: str
    because: list[tuple[str, float]]   # the top contributing history items, largest first
    parts: dict[str, float]            # the history's share by the item's parts (id, text, tags)
    unattributed: float                # bias, user fields, the recent-order block


@dataclasses.dataclass(frozen=True)
class Recommendations:
    item_ids: list[str]
    scores: list[float]
    ranked_by: str                       # the model whose scores order the list
    fallback_reason: str | None = None   # set when the ranking stage was skipped
    explanations: list[Explanation] | None = None


def _decode(values: np.ndarray) -> list[str]:
    return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in values]


def build_inputs(input_names: Sequence[str], query: UserQuery, item_ids: Sequence[str] | None = None
                 ) -> dict[str, list]:
    """A signature's inputs for one user, repeated once per item when items are given."""
    rows = 1 if item_ids is None else len(item_ids)
    history = list(query.history_item_ids) or [""]  # [batch, length] inputs need a column
    inputs = {}
    for name in input_names:
        if name == features.USER_ID:
            inputs[name] = [query.user_id] * rows
        elif name == features.HISTORY_ITEM_IDS:
            inputs[name] = [history] * rows
        elif name == features.ITEM_ID and item_ids is not None:
            inputs[name] = list(item_ids)
        elif name in query.features:
            inputs[name] = [query.features[name]] * rows
        else:
            raise ServingClientError(f"the model needs input {name!r}: pass it as a user feature")
    return inputs


class TwoStageRecommender:
    """Retrieval, ranking and the seen-items filter over one client; signature inputs are looked up once."""

    def __init__(self, client: PredictClient, retrieval_model: str = RETRIEVAL_MODEL,
                 ranking_model: str = RANKING_MODEL, pseudonymiser: Callable[[str], str] | None = None):
        self.client = client
        self.retrieval_model = retrieval_model
        self.ranking_model = ranking_model
        self.pseudonymiser = pseudonymiser
        self._input_names: dict[tuple[str, str], list[str]] = {}

    def _inputs(self, names: Sequence[str], query: UserQuery, item_ids: Sequence[str] | None = None
                ) -> dict[str, list]:
        if self.pseudonymiser is not None:
            query = dataclasses.replace(query, user_id=self.pseudonymiser(query.user_id))
        return build_inputs(names, query, item_ids)

    def _inputs_of(self, model: str, signature: str) -> list[str]:
        key = (model, signature)
        if key not in self._input_names:
            signatures = self.client.metadata(model)["metadata"]["signature_def"]["signature_def"]
            if signature not in signatures:
                raise ServingClientError(f"model {model} has no signature {signature!r}; it has {sorted(signatures)}")
            self._input_names[key] = sorted(signatures[signature]["inputs"])
        return self._input_names[key]

    def retrieve(self, query: UserQuery) -> tuple[list[str], list[float]]:
        """The retrieval model's candidates for the user, best first, with their scores."""
        inputs = self._inputs(self._inputs_of(self.retrieval_model, RETRIEVE_SIGNATURE), query)
        outputs = self.client.predict(self.retrieval_model, inputs, signature_name=RETRIEVE_SIGNATURE)
        return _decode(outputs["item_ids"][0]), outputs["scores"][0].astype(float).tolist()

    def score(self, query: UserQuery, item_ids: Sequence[str]) -> list[float]:
        """The ranking model's score of each item for the user."""
        inputs = self._inputs(self._inputs_of(self.ranking_model, SCORE_SIGNATURE), query, item_ids)
        outputs = self.client.predict(self.ranking_model, inputs, signature_name=SCORE_SIGNATURE)
        return np.reshape(outputs["scores"], [-1]).astype(float).tolist()

    def explain(self, query: UserQuery, item_ids: Sequence[str], top: int = 3) -> list[Explanation]:
        """For each item, the `top` history items that raised its retrieval score most."""
        names = [name for name in self._inputs_of(self.retrieval_model, EXPLAIN_SIGNATURE)
                 if name != EXPLAINED_ITEM_IDS]
        inputs = {**self._inputs(names, query), EXPLAINED_ITEM_IDS: [list(item_ids)]}
        outputs = self.client.predict(self.retrieval_model, inputs, signature_name=EXPLAIN_SIGNATURE)
        history = list(query.history_item_ids)
        part_names = _decode(outputs["item_parts"][0])
        explanations = []
        for item, terms, parts, rest in zip(item_ids, outputs["history_contributions"][0],
                                             outputs["item_part_contributions"][0],
                                             outputs["unattributed"][0]):
            terms = np.asarray(terms[:len(history)], np.float64)
            total = np.abs(terms).sum() + abs(float(rest)) or 1.0
            order = [i for i in np.argsort(-terms, kind="stable")[:top] if terms[i] > 0]
            explanations.append(Explanation(
                item, [(history[i], float(terms[i] / total)) for i in order],
                {name: float(value / total) for name, value in zip(part_names, parts)},
                float(rest) / total))
        return explanations

    def recommend(self, query: UserQuery, k: int = 10, seen_item_ids: Sequence[str] | None = None,
                  explain: bool = False) -> Recommendations:
        """Top-k items the user has not seen (by default: not in the history), best first;
        with `explain`, each with the history items that made retrieval choose it."""
        result = self._recommend(query, k, seen_item_ids)
        if not explain or not result.item_ids:
            return result
        return dataclasses.replace(result, explanations=self.explain(query, result.item_ids))

    def _recommend(self, query: UserQuery, k: int, seen_item_ids: Sequence[str] | None
                   ) -> Recommendations:
        seen = set(query.history_item_ids if seen_item_ids is None else seen_item_ids)
        item_ids, retrieval_scores = self.retrieve(query)
        candidates = [(item, score) for item, score in zip(item_ids, retrieval_scores) if item and item not in seen]
        if not candidates:
            return Recommendations([], [], ranked_by=self.retrieval_model)
        try:
            scores = self.score(query, [item for item, _ in candidates])
        except ModelNotFoundError as exc:
            top = candidates[:k]
            return Recommendations(
                [item for item, _ in top], [score for _, score in top], ranked_by=self.retrieval_model,
                fallback_reason=f"ranking model {self.ranking_model!r} is not served ({exc}); "
                                f"items are in retrieval order")
        order = np.argsort(-np.asarray(scores), kind="stable")[:k]
        return Recommendations([candidates[i][0] for i in order], [scores[i] for i in order],
                               ranked_by=self.ranking_model)


def recommend(client: PredictClient, query: UserQuery, k: int = 10, seen_item_ids: Sequence[str] | None = None,
              retrieval_model: str = RETRIEVAL_MODEL, ranking_model: str = RANKING_MODEL,
              pseudonymiser: Callable[[str], str] | None = None) -> Recommendations:
    """One two-stage recommendation; keep a TwoStageRecommender to reuse its signature lookups."""
    return TwoStageRecommender(client, retrieval_model, ranking_model, pseudonymiser).recommend(
        query, k, seen_item_ids)
