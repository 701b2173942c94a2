"""The model the pipeline trained and pushed, served from its models.config and queried over the wire.

The query's inputs come from the signature the pushed model declares and the values from
its own warmup requests (an unknown user's), so the test follows the model's inputs as they
change; the user is one of the data's, named by the raw id the client hashes.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.serving_pusher import publish
from data_contract import adapters, pseudonyms
from components.serving_pusher.server_configs import MODELS_CONFIG_FILE
from models import features
from serving import query_cli
from serving.recommend import RETRIEVE_SIGNATURE, build_inputs, UserQuery
from serving.soak import warmup_requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_testlib import ServerProcess  # noqa: E402

PROTOCOLS = ("rest", "grpc")


@pytest.fixture(scope="module", params=["cf", "hybrid"])
def run(request):
    """A finished run: the small sample's cf model (ids and history) and a hybrid one (user features too)."""
    return request.getfixturevalue("finished_run" if request.param == "cf" else "hybrid_run")


@pytest.fixture(scope="module")
def pushed(run):
    base_path = os.path.join(run.serving_root, "retrieval")
    version_dir = os.path.join(base_path, str(publish.existing_versions(base_path)[-1]))
    loaded = tf.saved_model.load(version_dir)
    return {"version_dir": version_dir, "signature": loaded.signatures[RETRIEVE_SIGNATURE], "model": loaded}


@pytest.fixture(scope="module")
def served(run, tmp_path_factory):
    logs = tmp_path_factory.mktemp("served-logs")
    server = ServerProcess([f"--model_config_file={os.path.join(run.serving_root, MODELS_CONFIG_FILE)}"],
                           logs / "server.log")
    try:
        server.wait_ready("retrieval")
        yield server
    finally:
        assert server.stop() == 0, server.log_text()[-2000:]


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@pytest.fixture(scope="module")
def user(run, pushed) -> UserQuery:
    """A user of the data (raw id), with a history and every other input the signature takes
    from the warmup rows."""
    raw_user_id = adapters.load_dataset(run.dataset).users[features.USER_ID].iloc[1]
    input_names = set(pushed["signature"].structured_input_signature[1])
    for request in warmup_requests(pushed["version_dir"]):
        if request.model_spec.signature_name != RETRIEVE_SIGNATURE:
            continue
        batch = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        for row in range(len(next(iter(batch.values())))):
            rows = {name: values[row] for name, values in batch.items()}
            history = [_text(item) for item in np.ravel(rows.get(features.HISTORY_ITEM_IDS, [])) if _text(item)]
            if len(history) >= 2:
                others = {name: (value.item() if isinstance(value, np.generic) else _text(value))
                          for name, value in rows.items()
                          if name not in (features.USER_ID, features.HISTORY_ITEM_IDS) and name in input_names}
                return UserQuery(raw_user_id, history, others)
    pytest.fail("no warmup request with a history of two items or more")


def in_process(pushed, query: UserQuery) -> tuple[list[str], np.ndarray]:
    """The retrieve signature called in this process on exactly what the client sends:
    the user's pseudonym."""
    signature = pushed["signature"]
    specs = signature.structured_input_signature[1]
    pseudonym = pseudonyms.Pseudonymiser(pseudonyms.resolve_key())(query.user_id)
    inputs = build_inputs(sorted(specs), dataclasses.replace(query, user_id=pseudonym))
    outputs = signature(**{name: tf.constant(value, dtype=specs[name].dtype) for name, value in inputs.items()})
    return [_text(item) for item in outputs["item_ids"].numpy()[0]], outputs["scores"].numpy()[0]


def query(capsys, server, protocol: str, command: str, user: UserQuery, k: int) -> dict:
    argv = [command, user.user_id, "--protocol", protocol, "--k", str(k), "--json",
            "--port", str(server.rest_port if protocol == "rest" else server.grpc_port),
            "--history", *user.history_item_ids]
    for name, value in user.features.items():
        argv += ["--feature", f"{name}={value}"]
    assert query_cli.main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retrieve_over_the_wire_equals_the_in_process_call(capsys, run, served, pushed, user, protocol):
    inputs = set(pushed["signature"].structured_input_signature[1])
    assert set(user.features) == inputs - {features.USER_ID, features.HISTORY_ITEM_IDS}  # every input is sent
    assert user.features or run.retrieval.family == "cf"
    expected_items, expected_scores = in_process(pushed, user)
    answer = query(capsys, served, protocol, "retrieve", user, k=len(expected_items))
    assert answer["item_ids"] == expected_items
    np.testing.assert_allclose(answer["scores"], expected_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_recommend_over_the_wire_drops_the_history_from_the_in_process_ranking(capsys, served, pushed, user,
                                                                               protocol):
    expected_items, _ = in_process(pushed, user)
    answer = query(capsys, served, protocol, "recommend", user, k=10)
    unseen = [item for item in expected_items if item not in user.history_item_ids]
    if answer["model"] == "retrieval":  # no ranking model served: the retrieval order, less what was seen
        assert answer["item_ids"] == unseen[:10]
    else:  # the hybrid run pushed a ranking model too: it reorders the unseen candidates
        assert answer["model"] == "ranking" and len(answer["item_ids"]) == 10
        assert set(answer["item_ids"]) <= set(unseen)


def test_a_different_history_gives_a_different_answer(capsys, served, pushed, user):
    catalogue = [item for item in in_process(pushed, user)[0] if item not in user.history_item_ids]
    other = UserQuery(user.user_id, catalogue[-3:], user.features)
    first = query(capsys, served, "grpc", "retrieve", user, k=20)
    second = query(capsys, served, "rest", "retrieve", other, k=20)
    assert first["item_ids"] != second["item_ids"]
    assert second["item_ids"] == in_process(pushed, other)[0][:20]
