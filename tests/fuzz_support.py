"""Shared pieces of the fuzz tests: a hang watchdog and strategies for hostile text."""
from __future__ import annotations

import contextlib
import signal
from typing import Iterator

from hypothesis import strategies as st


class Hang(Exception):
    """A fuzz case that did not finish in time."""


@contextlib.contextmanager
def no_hang(seconds: float) -> Iterator[None]:
    """Fails the case with Hang if the block runs longer than `seconds` (main thread only)."""
    def expire(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Text that breaks parsers: control characters, quotes, separators, BOMs, surrogate-adjacent code points.
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(list(',;|"\'\t\r\n\\\ufeff\x00 ')), st.characters()), max_size=40)
# The same, as protobuf string fields take it: UTF-8 (lone surrogates replaced).
proto_text = hostile_text.map(lambda text: text.encode("utf-8", errors="replace").decode("utf-8"))
numbers_as_text = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "-1", "0", "1e309", "-0", "1.5", "5", "", " ",
                     "0x10", "1_000", "½", "٣", "1e-400", "9" * 40]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr))
