"""ServingPusher: the stock Pusher's job, made safe for a polling model server.

Same inputs (model, model_blessing) plus optional `examples`, same `pushed_model`
output. It pushes only a blessed model, publishes the version directory atomically,
writes TF Serving warmup requests (an unknown user asking about catalogue items
from the `candidates` split: no user's data) into
`<version>/assets.extra/tf_serving_warmup_requests`, and regenerates
`<serving_root>/models.config` and `<serving_root>/batching_parameters.txt`. It keeps
the newest `keep_versions` versions and deletes older ones.
"""
from __future__ import annotations

import json
from typing import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.serving_pusher import executor
from components.serving_pusher.push import DEFAULT_KEEP_VERSIONS
from components.serving_pusher.server_configs import BatchingDefaults


class ServingPusherSpec(types.ComponentSpec):
    PARAMETERS = {
        "serving_root": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        # JSON list of signature names; [] warms every Predict signature.
        "warmup_signatures": ExecutionParameter(type=str),
        "warmup_rows": ExecutionParameter(type=int),
        "num_batch_threads": ExecutionParameter(type=int),
        "keep_versions": ExecutionParameter(type=int),
    }
    INPUTS = {
        standard_component_specs.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        standard_component_specs.MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {
        standard_component_specs.PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
    }


class ServingPusher(base_component.BaseComponent):
    SPEC_CLASS = ServingPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel, serving_root: str,
                 model_name: str, examples: types.BaseChannel | None = None,
                 warmup_signatures: Sequence[str] = (), warmup_rows: int = 8,
                 num_batch_threads: int = BatchingDefaults.num_batch_threads,
                 keep_versions: int = DEFAULT_KEEP_VERSIONS):
        if not model_name or "/" in model_name or model_name.startswith("."):
            raise ValueError(f"model_name must be a plain directory name, got {model_name!r}")
        if warmup_rows < 1:
            raise ValueError("warmup_rows must be at least 1")
        if keep_versions < 1:
            raise ValueError("keep_versions must be at least 1")
        super().__init__(ServingPusherSpec(
            model=model, model_blessing=model_blessing, examples=examples,
            serving_root=serving_root, model_name=model_name,
            warmup_signatures=json.dumps(list(warmup_signatures)), warmup_rows=warmup_rows,
            num_batch_threads=num_batch_threads, keep_versions=keep_versions,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
