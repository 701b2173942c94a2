"""`unirec query` against a running `python -m serving.cli`: retrieve, rank, recommend, and its errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from components.serving_pusher.push import push
from components.serving_pusher.server_configs import MODELS_CONFIG_FILE
from data_contract import pseudonyms
from serving import query_cli
from serving.client import RestClient
from serving.recommend import UserQuery, recommend
from serving_testlib import ServerProcess, free_port

CATALOGUE = [f"i{index:02d}" for index in range(20)]


class ToyRetrieval(tf.Module):
    """Hashed user and item embeddings; the top 10 of a 20-item catalogue."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(7)
        self.users = tf.Variable(rng.normal(size=(32, 4)).astype(np.float32))
        self.items = tf.Variable(rng.normal(size=(len(CATALOGUE), 4)).astype(np.float32))
        self.catalogue = tf.constant(CATALOGUE)
        self.rows = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            CATALOGUE, list(range(len(CATALOGUE)))), default_value=-1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.string)])
    def retrieve(self, user_id, history_item_ids):
        del history_item_ids  # part of the contract; this toy ignores it
        users = tf.gather(self.users, tf.strings.to_hash_bucket_fast(user_id, 32))
        scores, indices = tf.math.top_k(tf.matmul(users, self.items, transpose_b=True), k=10)
        return {"item_ids": tf.gather(self.catalogue, indices), "scores": scores}

    def item_vectors(self, item_ids):
        """Each id's vector; zero for "" and unknown ids."""
        rows = self.rows.lookup(item_ids)
        return tf.gather(self.items, tf.maximum(rows, 0)) * tf.cast(rows >= 0, tf.float32)[..., None]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.string),
                                  tf.TensorSpec([None, None], tf.string)])
    def explain(self, user_id, history_item_ids, item_ids):
        """The explain contract for a query that is the sum of the history's item vectors."""
        del user_id
        terms = tf.einsum("bnd,bkd->bkn", self.item_vectors(history_item_ids), self.item_vectors(item_ids))
        scores = tf.reduce_sum(terms, axis=2)
        return {"scores": scores, "history_contributions": terms,
                "item_part_contributions": scores[..., None], "unattributed": tf.zeros_like(scores),
                "item_parts": tf.fill([tf.shape(scores)[0], 1], "item_id")}


class ToyRanking(tf.Module):
    """The ranking contract's `score` signature; the score is the item's number, so the order is known."""

    def __init__(self):
        super().__init__()
        self.numbers = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            CATALOGUE, [float(index) for index in range(len(CATALOGUE))]), default_value=-1.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.string),
                                  tf.TensorSpec([None], tf.string)])
    def score(self, user_id, history_item_ids, item_id):
        del user_id, history_item_ids
        return {"scores": self.numbers.lookup(item_id)}


def item_number(item_id: str) -> int:
    return int(item_id[1:])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Both models pushed by ServingPusher's push() and served from the generated models.config."""
    root = tmp_path_factory.mktemp("query")
    retrieval, ranking = ToyRetrieval(), ToyRanking()
    tf.saved_model.save(retrieval, str(root / "retrieval-export"),
                        signatures={"serving_default": retrieval.retrieve, "retrieve": retrieval.retrieve,
                                    "explain": retrieval.explain})
    tf.saved_model.save(ranking, str(root / "ranking-export"), signatures={"score": ranking.score})
    for name in ("retrieval", "ranking"):
        push(str(root / f"{name}-export"), str(root / "serving"), name)
    process = ServerProcess([f"--model_config_file={root / 'serving' / MODELS_CONFIG_FILE}"], root / "server.log")
    try:
        process.wait_ready("ranking")
        yield process
    finally:
        assert process.stop() == 0, process.log_text()[-2000:]


def query(capsys, server, *args: str, protocol: str = "rest") -> dict:
    port = server.rest_port if protocol == "rest" else server.grpc_port
    code = query_cli.main([*args, "--protocol", protocol, "--port", str(port), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return {**json.loads(captured.out), "stderr": captured.err}


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_retrieve(capsys, server, protocol):
    result = query(capsys, server, "retrieve", "u001", "--history", "i01", "--k", "4", protocol=protocol)
    assert result["model"] == "retrieval" and len(result["item_ids"]) == 4
    assert result["scores"] == sorted(result["scores"], reverse=True)
    full = query(capsys, server, "retrieve", "u001", "--k", "10", protocol=protocol)
    assert full["item_ids"][:4] == result["item_ids"] and set(full["item_ids"]) <= set(CATALOGUE)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_recommend_ranks_candidates_and_drops_seen_items(capsys, server, protocol):
    candidates = query(capsys, server, "retrieve", "u002", "--k", "10", protocol=protocol)["item_ids"]
    history = candidates[:2]
    result = query(capsys, server, "recommend", "u002", "--history", *history, "--k", "5", protocol=protocol)
    expected = sorted(set(candidates) - set(history), key=item_number, reverse=True)[:5]
    assert result["model"] == "ranking" and result["item_ids"] == expected
    assert result["scores"] == [float(item_number(item)) for item in expected]

    seen = expected[:3]
    explicit = query(capsys, server, "recommend", "u002", "--history", *history, "--seen", *seen, "--k", "5",
                     protocol=protocol)
    assert not set(seen) & set(explicit["item_ids"])
    assert explicit["item_ids"] == sorted(set(candidates) - set(seen), key=item_number, reverse=True)[:5]


def test_recommend_falls_back_to_retrieval_order_without_a_ranking_model(capsys, server):
    candidates = query(capsys, server, "retrieve", "u003", "--k", "10")["item_ids"]
    result = query(capsys, server, "recommend", "u003", "--history", candidates[0], "--k", "3",
                   "--ranking-model", "no-such-ranker")
    assert result["model"] == "retrieval" and result["item_ids"] == candidates[1:4]
    assert "ranking model 'no-such-ranker' is not served" in result["stderr"]


def test_rank_and_the_python_api(capsys, server):
    ranked = query(capsys, server, "rank", "u004", "i03", "i17", "i08")
    assert ranked["item_ids"] == ["i17", "i08", "i03"] and ranked["scores"] == [17.0, 8.0, 3.0]
    result = recommend(RestClient("127.0.0.1", server.rest_port), UserQuery("u004"), k=2)
    assert result.ranked_by == "ranking" and len(result.item_ids) == 2 and result.fallback_reason is None


def test_table_output(capsys, server):
    assert query_cli.main(["retrieve", "u001", "--k", "2", "--port", str(server.rest_port)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rank", "item_id", "score"] and len(lines) == 3


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_server_down_is_a_clear_error(capsys, protocol):
    port = free_port()
    code = query_cli.main(["retrieve", "u001", "--protocol", protocol, "--port", str(port), "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 1 and f"127.0.0.1:{port} is not reachable" in err and "Is the model server running" in err


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_unknown_model_is_a_clear_error(capsys, server, protocol):
    port = server.rest_port if protocol == "rest" else server.grpc_port
    code = query_cli.main(["retrieve", "u001", "--model", "no-such-model", "--protocol", protocol, "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 1 and "model not served" in err and "no-such-model" in err


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_recommend_explains_each_item_by_its_top_history_items(capsys, server, protocol):
    history = ["i03", "i11", "i17"]
    result = query(capsys, server, "recommend", "u002", "--history", *history, "--k", "4", "--explain",
                   protocol=protocol)
    vectors = ToyRetrieval().items.numpy()  # the same seeded vectors the server holds
    assert len(result["explanations"]) == len(result["item_ids"]) == 4
    for item, explanation in zip(result["item_ids"], result["explanations"]):
        terms = vectors[[item_number(h) for h in history]] @ vectors[item_number(item)]
        total = np.abs(terms).sum()
        expected = [(history[i], terms[i] / total) for i in np.argsort(-terms) if terms[i] > 0]
        assert [h for h, _ in explanation["because"]] == [h for h, _ in expected]
        np.testing.assert_allclose([s for _, s in explanation["because"]], [s for _, s in expected],
                                   rtol=1e-4)
        assert explanation["parts"]["item_id"] == pytest.approx(terms.sum() / total, rel=1e-4)
    table = query_cli.format_table({**result, "item_ids": result["item_ids"][:1]})
    assert "because you liked" in table or "not from your history" in table


def test_the_user_id_is_sent_as_its_pseudonym_unless_it_is_one(capsys, server):
    pseudonym = pseudonyms.Pseudonymiser(pseudonyms.resolve_key())("u001")
    hashed = query(capsys, server, "retrieve", "u001", "--k", "10")
    as_is = query(capsys, server, "retrieve", pseudonym, "--pseudonym", "--k", "10")
    raw = query(capsys, server, "retrieve", "u001", "--pseudonym", "--k", "10")
    assert hashed["item_ids"] == as_is["item_ids"] != raw["item_ids"]


def test_no_pseudonym_key_is_a_clear_error_and_none_is_made_up(capsys, server, tmp_path, monkeypatch):
    monkeypatch.delenv(pseudonyms.KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert query_cli.main(["retrieve", "u001", "--port", str(server.rest_port)]) == 1
    assert f"no pseudonym key: set {pseudonyms.KEY_ENV}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
