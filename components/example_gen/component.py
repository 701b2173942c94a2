"""UnirecExampleGen: a dataset adapter in, one Examples artifact out.

User ids are pseudonyms throughout (data_contract/pseudonyms.py), and users on
the erasure list are left out.

The artifact holds four splits: `train` and `eval` (interactions with the
user's features and recent history; the item by id only), `candidates` (one
example per catalogue item with its features, which live nowhere else) and
`users` (one example per user with their whole training history), plus
`split_info.json` (models/split_info.py). Stock components downstream read it
like any ExampleGen output; UnirecSchemaGen joins the candidates' item features
to the interactions' schema, and Transform analyses train and candidates.

Its executor runs Beam (user_shards.py): the pipeline's beam_pipeline_args send
the building and writing of the interaction splits, a user shard at a time, to
worker processes or a cluster.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.example_gen import executor


class UnirecExampleGenSpec(types.ComponentSpec):
    PARAMETERS = {
        # JSON: the dataset spec given to data_contract.load_dataset.
        "dataset": ExecutionParameter(type=str),
        # JSON: the fields of components.example_gen.split_config.SplitConfig.
        "split": ExecutionParameter(type=str),
        "history_length": ExecutionParameter(type=int),
        "max_history": ExecutionParameter(type=int),
        # Content hash of the source files, so that changed data is not served
        # from the cache of an earlier run.
        "input_fingerprint": ExecutionParameter(type=str),
        # Privacy (data_contract/pseudonyms.py): where the key is read from when the
        # environment does not give it, and the key's id (never the key); the erasure
        # list's path and a keyed digest of its content (never the pseudonyms on it).
        "pseudonym_key_file": ExecutionParameter(type=str),
        "pseudonym_key_id": ExecutionParameter(type=str),
        "erased_users_file": ExecutionParameter(type=str),
        "erased_users_digest": ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = {standard_component_specs.EXAMPLES_KEY:
               ChannelParameter(type=standard_artifacts.Examples)}


class UnirecExampleGen(base_component.BaseComponent):
    SPEC_CLASS = UnirecExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, dataset: str, split: str, history_length: int, max_history: int,
                 pseudonym_key_id: str, erased_users_digest: str, input_fingerprint: str = "",
                 pseudonym_key_file: str = "", erased_users_file: str = ""):
        super().__init__(UnirecExampleGenSpec(
            dataset=dataset,
            split=split,
            history_length=history_length,
            max_history=max_history,
            input_fingerprint=input_fingerprint,
            pseudonym_key_file=pseudonym_key_file,
            pseudonym_key_id=pseudonym_key_id,
            erased_users_file=erased_users_file,
            erased_users_digest=erased_users_digest,
            examples=types.Channel(type=standard_artifacts.Examples),
        ))
