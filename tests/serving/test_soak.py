"""A short soak: REST + gRPC load at concurrency while versions are pushed; no errors, a clean exit."""
from __future__ import annotations

import math

from serving import soak
from serving_testlib import publish_version


def test_short_soak_with_pushes_has_no_errors(tmp_path, exports):
    model_dir = tmp_path / "toy"
    model_dir.mkdir()
    publish_version(model_dir, 1, exports["toy"])  # carries warmup requests, as pushed models do
    report = soak.soak(str(model_dir), seconds=8, concurrency=8, push_every=2, keep_versions=2,
                       workdir=str(tmp_path / "scratch"))
    assert report.errors == 0, report.text()
    assert report.answers.get("OK", 0) > 50
    assert report.versions_pushed >= 3 and report.failed_pushes == []
    assert report.server_exit_code == 0
    assert all(math.isfinite(report.latency_ms[p]["p99"]) for p in ("REST", "gRPC"))
    assert len(report.rss_mb_by_minute) >= 2 and min(report.rss_mb_by_minute) > 0
    assert len(list((tmp_path / "scratch" / "toy").iterdir())) == 2  # --keep-versions, nothing else left
    assert "p99" in report.text()


def test_only_the_limits_own_answers_are_not_errors():
    queue_full = "3 batches enqueued and max_enqueued_batches is 3"
    answers = [("OK", ""), ("HTTP 429", "The request queue is full"), ("RESOURCE_EXHAUSTED", "message too large"),
               ("UNAVAILABLE", queue_full), ("HTTP 503", queue_full),
               ("UNAVAILABLE", "failed to connect to all addresses"), ("HTTP 500", "boom"), ("NOT_FOUND", "")]
    statuses = [soak.reported_status(status, message) if status != "OK" else status for status, message in answers]
    report = soak.SoakReport(seconds=1, concurrency=2, requests=len(statuses), answers=dict.fromkeys(statuses, 1),
                             latency_ms={}, rss_mb_by_minute=[], versions_pushed=0, failed_pushes=[],
                             server_exit_code=0)
    assert report.errors == 3  # the server gone, a 500, a missing model
