"""Predict, Classify and Regress on a leased servable, with TF Serving's request validation.

Transport-neutral: REST and gRPC both decode their requests into numpy arrays or an
`Input` proto, call in here, and encode what comes back. The TF call itself runs on a
runner: `DirectRunner` (a thread pool) or `batching.BatchScheduler`.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from typing import Mapping, Protocol, Sequence

import numpy as np
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from serving import errors
from serving.limits import ServerLimits, queue_full
from serving.metrics import ServingMetrics
from serving.servable import SavedModelServable
from serving.tensor_proto import dtype_enum_of, dtype_name

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"

Tensors = dict[str, np.ndarray]


class Runner(Protocol):
    async def run(self, servable: SavedModelServable, signature_name: str, inputs: Mapping[str, np.ndarray]) -> Tensors:
        ...


class DirectRunner:
    """Runs each request on its own in a thread pool, off the event loop."""

    def __init__(self, executor: Executor):
        self._executor = executor

    async def run(self, servable: SavedModelServable, signature_name: str, inputs: Mapping[str, np.ndarray]) -> Tensors:
        return await asyncio.get_running_loop().run_in_executor(self._executor, servable.run, signature_name, inputs)


def shape_text(dims: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def signature_shape_text(info: meta_graph_pb2.TensorInfo) -> str:
    if info.tensor_shape.unknown_rank:
        return "[?]"
    return shape_text([d.size if d.size >= 0 else "?" for d in info.tensor_shape.dim])


def rest_input_infos(servable: SavedModelServable, signature_name: str) -> Mapping[str, meta_graph_pb2.TensorInfo]:
    """The REST handler's GetInfoMap: the signature's inputs, or INVALID_ARGUMENT."""
    name = signature_name or DEFAULT_SIGNATURE
    signature = servable.signature_defs.get(name)
    if signature is None:
        raise errors.invalid_argument(f'Serving signature name: "{name}" not found in signature def')
    return signature.inputs


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """InputToSerializedExampleTensor: context bytes prepended to each example (proto merge)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        records = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        context = request_input.example_list_with_context.context.SerializeToString()
        records = [context + e.SerializeToString() for e in request_input.example_list_with_context.examples]
    else:
        records = []
    if not records:
        raise errors.invalid_argument("Input is empty.")
    array = np.empty(len(records), dtype=object)
    array[:] = records
    return array


def _check_inputs(signature: meta_graph_pb2.SignatureDef, inputs: Mapping[str, np.ndarray]) -> None:
    """VerifyRequestInputsSize and GetInputValues, then dtype and shape checks of each feed."""
    sent, expected = set(inputs), set(signature.inputs)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not signature.defaults):
        raise errors.invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} len({{{','.join(sorted(sent))}}}) "
            f"!= len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")
    for alias in sorted(expected - sent):
        raise errors.invalid_argument(
            f"Signature input alias: {alias}(feed name: {signature.inputs[alias].name}) not found in request and "
            f"no default value provided. Inputs expected to be in the request {{{','.join(sorted(sent))}}}, or "
            f"default input alias set: {','.join(sorted(signature.defaults))}")
    if sent - expected:
        raise errors.invalid_argument(
            f"Inputs contains invalid name. Used request inputs: {','.join(sorted(sent & expected))}, "
            f"request input: {','.join(sorted(sent))}")
    for index, alias in enumerate(sorted(expected)):
        info, value = signature.inputs[alias], inputs[alias]
        if dtype_enum_of(value) != info.dtype:
            raise errors.invalid_argument(
                f"Expects arg[{index}] to be {dtype_name(info.dtype)} but {dtype_name(dtype_enum_of(value))} is "
                "provided")
        dims = info.tensor_shape.dim
        if not info.tensor_shape.unknown_rank and (
            len(dims) != value.ndim or any(d.size not in (-1, n) for d, n in zip(dims, value.shape))
        ):
            raise errors.invalid_argument(
                f"Input {alias}: shape {shape_text(value.shape)} is incompatible with the signature's shape "
                f"{signature_shape_text(info)}")


class InferenceService:
    """The three inference APIs over one runner, recording TF Serving's runtime latency.

    At most `limits.max_enqueued_requests` requests wait or run at once; more are
    refused at once with RESOURCE_EXHAUSTED instead of growing a queue.
    """

    def __init__(self, runner: Runner, metrics: ServingMetrics, limits: ServerLimits = ServerLimits()):
        self._runner = runner
        self._metrics = metrics
        self.limits = limits
        self._in_flight = 0

    async def _run(self, servable: SavedModelServable, api: str, signature_name: str,
                   inputs: Mapping[str, np.ndarray]) -> Tensors:
        self.limits.check_inputs(inputs)
        if self._in_flight >= self.limits.max_enqueued_requests:
            raise queue_full(self._in_flight, self.limits.max_enqueued_requests)
        start = time.perf_counter()
        # A request that times out stops waiting, but its TF call runs on; it counts until it ends.
        work = asyncio.ensure_future(self._runner.run(servable, signature_name, inputs))
        self._in_flight += 1  # only the event loop's thread counts, so no lock
        work.add_done_callback(self._finished)
        outputs = await asyncio.shield(work)
        self._metrics.record_runtime(servable.name, api, (time.perf_counter() - start) * 1e6)
        return outputs

    def _finished(self, work: asyncio.Future) -> None:
        self._in_flight -= 1
        if not work.cancelled():
            work.exception()  # retrieved here when nobody waits for it any more

    async def predict(self, servable: SavedModelServable, signature_name: str, inputs: Mapping[str, np.ndarray],
                      output_filter: Sequence[str] = ()) -> tuple[str, Tensors]:
        """RunPredict: returns the resolved signature name and the (filtered) outputs."""
        name = signature_name or DEFAULT_SIGNATURE
        signature = servable.signature_defs.get(name)
        if signature is None or not servable.has_function(name):
            raise errors.failed_precondition(f'Serving signature key "{name}" not found.')
        _check_inputs(signature, inputs)
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in signature.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}.")
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        outputs = await self._run(servable, "Predict", name, inputs)
        if output_filter:
            outputs = {alias: outputs[alias] for alias in output_filter}
        return name, outputs

    def _example_signature(self, servable: SavedModelServable, signature_name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
        name = signature_name or DEFAULT_SIGNATURE
        signature = servable.signature_defs.get(name)
        if signature is None or not servable.has_function(name):
            raise errors.invalid_argument(f"No signature was found with the name: {name}")
        if len(signature.inputs) != 1:
            raise errors.invalid_argument("Expected one input Tensor.")
        return name, signature

    async def classify(self, servable: SavedModelServable, signature_name: str,
                       request_input: input_pb2.Input) -> tuple[str, classification_pb2.ClassificationResult]:
        """RunClassify: `inputs` of serialized Examples -> `classes` and/or `scores` [batch, num_classes]."""
        name, signature = self._example_signature(servable, signature_name)
        if len(signature.outputs) not in (1, 2):
            raise errors.invalid_argument(f"Expected one or two output Tensors, found {len(signature.outputs)}")
        if CLASSIFY_INPUTS not in signature.inputs:
            raise errors.invalid_argument(f"No classification inputs found in SignatureDef: {signature}")
        if CLASSIFY_CLASSES not in signature.outputs and CLASSIFY_SCORES not in signature.outputs:
            raise errors.invalid_argument(
                f'Expected classification signature outputs to contain at least one of "{CLASSIFY_CLASSES}" or '
                f'"{CLASSIFY_SCORES}". Signature was: {signature}')
        examples = serialized_examples(request_input)
        outputs = await self._run(servable, "Classify", name, {CLASSIFY_INPUTS: examples})
        return name, _classification_result(outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES), len(examples))

    async def regress(self, servable: SavedModelServable, signature_name: str,
                      request_input: input_pb2.Input) -> tuple[str, regression_pb2.RegressionResult]:
        """RunRegress: `inputs` of serialized Examples -> `outputs` [batch] or [batch, 1] floats."""
        name, signature = self._example_signature(servable, signature_name)
        if len(signature.outputs) != 1:
            raise errors.invalid_argument("Expected one output Tensor.")
        if REGRESS_INPUTS not in signature.inputs:
            raise errors.invalid_argument(f"No regression inputs found in SignatureDef: {signature}")
        if REGRESS_OUTPUTS not in signature.outputs:
            raise errors.invalid_argument(f"No regression outputs found in SignatureDef: {signature}")
        examples = serialized_examples(request_input)
        values = (await self._run(servable, "Regress", name, {REGRESS_INPUTS: examples}))[REGRESS_OUTPUTS]
        if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
            raise errors.invalid_argument(
                f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                f"{shape_text(values.shape)}")
        if values.shape[0] != len(examples):
            raise errors.invalid_argument(
                f"Input batch size did not match output batch size: {len(examples)} vs. {values.shape[0]}")
        if values.dtype != np.float32:
            raise errors.invalid_argument(
                f"Expected output Tensor of DT_FLOAT.  Got: {types_pb2.DataType.Name(dtype_enum_of(values))}")
        result = regression_pb2.RegressionResult()
        for value in values.ravel().tolist():
            result.regressions.add(value=value)
        return name, result


def _classification_result(classes: np.ndarray | None, scores: np.ndarray | None,
                           num_examples: int) -> classification_pb2.ClassificationResult:
    """PostProcessClassificationResult."""
    for label, tensor, dtype in (("classes", classes, types_pb2.DT_STRING), ("scores", scores, types_pb2.DT_FLOAT)):
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise errors.invalid_argument(
                f"Expected Tensor shape: [batch_size num_classes] but got {shape_text(tensor.shape)}")
        if dtype_enum_of(tensor) != dtype:
            raise errors.invalid_argument(
                f"Expected {label} Tensor of {types_pb2.DataType.Name(dtype)}. Got: "
                f"{types_pb2.DataType.Name(dtype_enum_of(tensor))}")
        if tensor.shape[0] != num_examples:
            raise errors.invalid_argument(
                f"Expected {label} output batch size of {num_examples}. Got: {tensor.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise errors.invalid_argument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}")
    num_classes = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(num_examples):
        classifications = result.classifications.add()
        for c in range(num_classes):
            cls = classifications.classes.add()
            if classes is not None:
                cls.label = classes[i, c].decode("utf-8", errors="replace")
            if scores is not None:
                cls.score = float(scores[i, c])
    return result
