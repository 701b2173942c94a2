"""Executor of ServingPusher: the stock Pusher's blessing check and output, our publishing."""
from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from components.serving_pusher import push as push_lib
from components.serving_pusher import warmup_requests
from components.serving_pusher.server_configs import BatchingDefaults
from models import features


class Executor(pusher_executor.Executor):
    """Pushes a blessed model to `<serving_root>/<model_name>/<version>/`.

    The PushedModel output carries the stock Pusher's custom properties (`pushed`,
    `pushed_destination`, `pushed_version`) and, like it, an archived copy of what
    was pushed.
    """

    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed_model = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed_model)
            return
        # Warmup requests are built from catalogue rows only: no user's data ships.
        candidates = []
        if input_dict.get(standard_component_specs.EXAMPLES_KEY):
            candidates = warmup_requests.read_examples(
                artifact_utils.get_split_uri(input_dict[standard_component_specs.EXAMPLES_KEY],
                                             features.CANDIDATES_SPLIT),
                exec_properties["warmup_rows"])
        result = push_lib.push(
            self.GetModelPath(input_dict), exec_properties["serving_root"], exec_properties["model_name"],
            candidates=candidates,
            warmup_signatures=json.loads(exec_properties["warmup_signatures"]),
            batching=BatchingDefaults(num_batch_threads=exec_properties["num_batch_threads"]),
            keep_versions=exec_properties.get("keep_versions") or push_lib.DEFAULT_KEEP_VERSIONS)
        io_utils.copy_dir(result.version_dir, pushed_model.uri)
        self._MarkPushed(pushed_model, pushed_destination=result.version_dir, pushed_version=str(result.version))
