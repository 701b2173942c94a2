"""Fuzzing the REST API over the wire: any body on any API path gets TF Serving's JSON error shape and a
4xx status (or an answer), never a 500, a hang or a dead server.

Seeded (see tests/conftest.py) so a failing case replays; UNIREC_FUZZ_EXAMPLES raises the count.
"""
from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.request

from hypothesis import event, given
from hypothesis import strategies as st

from fuzz_support import hostile_text, no_hang
from serving_testlib import http

SIGNATURES = ["", "serving_default", "echo", "two_inputs", "int_ids", "token_count", "classify", "regress",
              "missing"]
INPUT_NAMES = ["x", "text", "pair", "bias", "ids", "inputs", "examples", "other"]
PATHS = ["/v1/models/toy:predict", "/v1/models/toy:classify", "/v1/models/toy:regress",
         "/v1/models/versioned/versions/2:predict", "/v1/models/versioned/labels/canary:predict",
         "/v1/models/versioned/versions/99999999999999999999999:predict", "/v1/models/nope:predict",
         "/v1/models/toy/metadata", "/v1/models/toy", "/v1/models/toy:explode", "/v1/"]
ALLOWED = {200, 400, 404, 409, 429, 501, 503, 504}

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    hostile_text, st.builds(lambda data: {"b64": data}, st.one_of(
        hostile_text, st.binary(max_size=30).map(lambda raw: base64.b64encode(raw).decode()))))
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(INPUT_NAMES + ["b64"]), inner, max_size=3)),
    max_leaves=25)
tensors = st.one_of(
    values,
    st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n),
                                                  max_size=6)),
    st.integers(0, 5000).map(lambda n: [1.0] * n))  # big batches


@st.composite
def predict_bodies(draw) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:  # deep nesting, up to far past any parser's recursion limit
        depth = draw(st.sampled_from([10, 33, 100, 999, 1001, 5000, 200_000]))
        inner = draw(st.sampled_from([b"", b"1", b'"a"', b"{}"]))
        return b'{"instances": ' + b"[" * depth + inner + b"]" * depth + b"}"
    doc = {}
    if draw(st.booleans()):
        doc["signature_name"] = draw(st.one_of(st.sampled_from(SIGNATURES), leaves))
    key = draw(st.sampled_from(["instances", "inputs", "examples", "both", "neither"]))
    if key == "both":
        doc["instances"], doc["inputs"] = draw(tensors), draw(tensors)
    elif key == "inputs" and draw(st.booleans()):
        doc["inputs"] = draw(st.dictionaries(st.sampled_from(INPUT_NAMES), tensors, max_size=3))
    elif key != "neither":
        doc[key] = draw(tensors)
    if key == "examples" and draw(st.booleans()):
        doc["context"] = draw(values)
    text = json.dumps(doc, allow_nan=True)
    if draw(st.integers(0, 9)) == 0:  # truncated or with trailing junk
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(hostile_text)
    return text.encode("utf-8", errors="surrogatepass")


def _post(server, path: str, body: bytes, method: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(server.rest_url + path, data=body if method == "POST" else None,
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@given(path=st.sampled_from(PATHS), body=predict_bodies(), method=st.sampled_from(["POST"] * 9 + ["GET"]))
def test_any_body_gets_a_tf_serving_status(server, path, body, method):
    with no_hang(60):
        status, raw, content_type = _post(server, path, body, method)
    event(f"HTTP {status}")
    assert status in ALLOWED, (status, raw[:500])
    answer = json.loads(raw)
    if status != 200:
        assert isinstance(answer.get("error"), str) and answer["error"], answer


def test_server_survives_the_fuzzing(server):
    assert http(server, "/v1/models/toy")[0] == 200
    status, body = http(server, "/v1/models/toy:predict", {"instances": [2.0]})
    assert (status, body) == (200, {"predictions": [3.0]})
    assert math.isfinite(body["predictions"][0])
