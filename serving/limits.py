"""Request limits: what one request may ask of the server before it is refused.

TF Serving accepts requests of any size and leaves overload to its batching queue;
a server on a shared machine needs bounds. Each limit answers with a TF Serving
status: INVALID_ARGUMENT for a tensor that is too big, RESOURCE_EXHAUSTED for a
body or message that is too big or when the server already has as much work
waiting as it may queue, DEADLINE_EXCEEDED when a request ran past its time.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Sequence

import numpy as np

from serving import errors

MIB = 2**20


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """Defaults sized for recommendation requests: a user's whole history, a ranking call's candidates."""

    rest_api_max_body_bytes: int = 64 * MIB
    grpc_max_receive_message_bytes: int = 64 * MIB
    max_instances_per_request: int = 4096
    max_history_length: int = 4096
    max_enqueued_requests: int = 256
    rest_api_timeout_in_ms: int = 30_000
    grpc_timeout_in_ms: int = 30_000

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"--{field.name} must be at least 1, got {getattr(self, field.name)}")

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        for alias in sorted(inputs):
            self.check_shape(alias, inputs[alias].shape)

    def check_shape(self, alias: str, shape: Sequence[int]) -> None:
        """Dimension 0 is the instances; every later dimension is bounded by the history length.

        gRPC checks a TensorProto's declared shape with this before decoding it: a few bytes
        can declare a tensor of any size.
        """
        if shape and shape[0] > self.max_instances_per_request:
            raise errors.invalid_argument(
                f"Input {alias} has {shape[0]} instances; at most {self.max_instances_per_request} are "
                "accepted in one request (--max_instances_per_request)")
        if any(size > self.max_history_length for size in shape[1:]):
            raise errors.invalid_argument(
                f"Input {alias} has shape [{','.join(map(str, shape))}]; dimensions after the first may be at "
                f"most {self.max_history_length} long (--max_history_length)")
        elements = self.max_instances_per_request * self.max_history_length
        if math.prod(shape) > elements:
            raise errors.invalid_argument(
                f"Input {alias} has shape [{','.join(map(str, shape))}]; a tensor may hold at most {elements} "
                "values (--max_instances_per_request times --max_history_length)")


def queue_full(waiting: int, limit: int) -> errors.ServingError:
    return errors.resource_exhausted(
        f"The request queue is full: {waiting} requests are waiting or running and --max_enqueued_requests is "
        f"{limit}")


def deadline_exceeded(timeout_ms: int, flag: str) -> errors.ServingError:
    return errors.deadline_exceeded(f"Request did not finish within {timeout_ms} ms ({flag})")
