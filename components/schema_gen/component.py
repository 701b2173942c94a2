"""UnirecSchemaGen: SchemaGen for interaction rows joined by id to the catalogue.

Stock SchemaGen infers one schema from the splits it is given; ours hold
different features (interaction rows the ids, the user fields and the history;
candidate rows the item fields), and TFDV's update of one split's schema with
another's marks the features the second lacks as deprecated. This component
infers each side from its own splits and joins them (joined_schema.py); it
writes `schema.pbtxt` into a standard Schema artifact, as SchemaGen does.
"""
import os

from tfx import v1 as tfx
from tfx.components.schema_gen.executor import DEFAULT_FILE_NAME
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.utils import io_utils

from components.schema_gen import joined_schema
from models import features


@tfx.dsl.components.component
def UnirecSchemaGen(
        statistics: tfx.dsl.components.InputArtifact[
            tfx.types.standard_artifacts.ExampleStatistics],
        schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema]):
    def load(split):
        return stats_artifact_utils.load_statistics(statistics, split).proto()

    joined = joined_schema.join([load(features.TRAIN_SPLIT), load(features.EVAL_SPLIT)],
                                load(features.CANDIDATES_SPLIT))
    io_utils.write_pbtxt_file(os.path.join(schema.uri, DEFAULT_FILE_NAME), joined)
