"""TextEncoder: exports the pretrained BERT sentence encoder as a Model artifact.

The Trainer consumes it as its `base_model` (transfer learning from a
pretrained model is what that input is for): it encodes each distinct item
text once for training and puts the encoder into the serving graph, so an item
unseen in training is embedded from its text.
"""
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import path_utils


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        from models import text_encoder  # Keras 3 / keras-hub: import only here.

        model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
        text_encoder.export_encoder(
            path_utils.serving_model_path(model.uri),
            checkpoint=exec_properties["checkpoint"] or None,
            sequence_length=exec_properties["sequence_length"])


class TextEncoderSpec(types.ComponentSpec):
    PARAMETERS = {
        # A Hugging Face BERT folder, a keras-hub preset name, or "" for the
        # bundled all-MiniLM-L6-v2 weights.
        "checkpoint": ExecutionParameter(type=str),
        "sequence_length": ExecutionParameter(type=int),
    }
    INPUTS = {}
    OUTPUTS = {standard_component_specs.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class TextEncoder(base_component.BaseComponent):
    SPEC_CLASS = TextEncoderSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, checkpoint: str = "", sequence_length: int = 64):
        super().__init__(TextEncoderSpec(
            checkpoint=checkpoint, sequence_length=sequence_length,
            model=types.Channel(type=standard_artifacts.Model)))
