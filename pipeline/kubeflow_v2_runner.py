"""Compiles the pipeline for Vertex AI Pipelines and Kubeflow (KubeflowV2DagRunner).

    UNIREC_CONFIG=pipeline/configs/vertex.yaml UNIREC_IMAGE=gcr.io/PROJECT/tfx-unirec:TAG \\
        python -m pipeline.kubeflow_v2_runner --output-file unirec.json

The config's output_dir must be a bucket path (gs://...) the cluster can read,
and the image must have this package installed (see deploy/README.md).
`unirec run --engine vertex|kubeflow` compiles with this module and submits.
"""
import argparse
import json
import os
import re
import sys
from typing import Any, Dict

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from pipeline import config as config_lib
from pipeline import pipeline as pipeline_lib

_KFP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


def compile_pipeline(config: config_lib.PipelineConfig, image: str, output_file: str) -> str:
    """Writes the PipelineJob JSON (the PipelineSpec and its runtime config, as Vertex AI
    takes it), checked against the kfp-pipeline-spec proto; returns its path."""
    if not _KFP_NAME.match(config.pipeline_name):
        raise ValueError(f"pipeline_name {config.pipeline_name!r} is not a valid Kubeflow name: "
                         "use lower-case letters, digits and '-' (at most 128)")
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(os.path.abspath(output_file)),
        output_filename=os.path.basename(output_file))
    # Kubeflow keeps its own ML Metadata: the local SQLite connection is not compiled in.
    runner.run(pipeline_lib.create_pipeline(config))
    read_job(output_file)
    return output_file


def read_job(path: str) -> Dict[str, Any]:
    """The PipelineJob JSON at `path`; ValueError unless its pipelineSpec parses as a
    PipelineSpec with no unknown field."""
    with open(path) as f:
        job = json.load(f)
    try:
        json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    except (KeyError, json_format.ParseError) as e:
        raise ValueError(f"{path}: not a valid Kubeflow PipelineJob ({e})") from None
    return job


def write_pipeline_spec(job_file: str, output_file: str) -> str:
    """Writes the bare PipelineSpec that Kubeflow Pipelines uploads (its UI, `kfp run
    create`, kfp.Client), with the job's pipeline root as its default; returns its path."""
    job = read_job(job_file)
    spec = dict(job["pipelineSpec"], defaultPipelineRoot=job["runtimeConfig"]["gcsOutputDirectory"])
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    with open(output_file, "w") as f:
        json.dump(spec, f, indent=2, sort_keys=True)
    return output_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.environ.get("UNIREC_CONFIG"))
    parser.add_argument("--image", default=os.environ.get("UNIREC_IMAGE", "tfx-unirec:latest"))
    parser.add_argument("--output-file", default="unirec_pipeline.json")
    args = parser.parse_args(argv)
    path = compile_pipeline(config_lib.load_config(args.config), args.image, args.output_file)
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
