"""Submits a compiled pipeline to Vertex AI Pipelines or Kubeflow Pipelines (`unirec run --engine`).

Each check that needs no network (credentials, project, the kfp SDK) runs before the
pipeline is compiled, and fails with a SubmitError whose message says what is
missing and how to provide it.
"""
import logging
import os
from typing import Optional

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_REGION = "us-central1"


class SubmitError(Exception):
    """The pipeline cannot be submitted; the message says why and what to do."""


def google_credentials(project: Optional[str]):
    """(credentials, project) from Application Default Credentials; `project` wins over
    the one they name."""
    import google.auth
    from google.auth import exceptions

    # Each source it tries and misses is logged as a warning; the error below says it all.
    logging.getLogger("google.auth._default").setLevel(logging.ERROR)
    try:
        credentials, default_project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except exceptions.DefaultCredentialsError:
        raise SubmitError(
            "no Google Cloud credentials found: run `gcloud auth application-default login`, "
            "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file") from None
    project = project or default_project
    if not project:
        raise SubmitError("no Google Cloud project: pass --project or set GOOGLE_CLOUD_PROJECT")
    return credentials, project


def vertex_job(job_file: str, project: str, region: str, credentials):
    """The Vertex AI PipelineJob of a compiled job file (built offline; nothing is sent)."""
    from google.cloud import aiplatform

    from pipeline import kubeflow_v2_runner

    job = kubeflow_v2_runner.read_job(job_file)
    return aiplatform.PipelineJob(display_name=job["displayName"], template_path=job_file,
                                  project=project, location=region, credentials=credentials)


def submit_vertex(job_file: str, project: str, region: str, credentials,
                  service_account: Optional[str] = None) -> str:
    """Submits the job without waiting for it; returns its resource name."""
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions

    job = vertex_job(job_file, project, region, credentials)
    try:
        job.submit(service_account=service_account)
    except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SubmitError(f"Vertex AI did not accept the job in {project}/{region}: "
                          f"{first_line}") from None
    return job.resource_name


def kfp_client_class():
    """kfp.Client, or SubmitError when the kfp SDK is absent (it is not in requirements.txt:
    kfp 2.5.0, the newest on protobuf 3, needs urllib3 < 2)."""
    try:
        from kfp import Client  # kfp-pipeline-spec alone installs a bare `kfp` namespace
    except ImportError:
        raise SubmitError("the kfp SDK is not installed") from None
    return Client


def submit_kubeflow(spec_file: str, host: Optional[str], run_name: str) -> str:
    """Creates a run of the PipelineSpec on the Kubeflow Pipelines at `host` (default:
    $KF_PIPELINES_ENDPOINT, then the in-cluster service); returns the run id."""
    client = kfp_client_class()(host=host or os.environ.get("KF_PIPELINES_ENDPOINT"))
    try:
        result = client.create_run_from_pipeline_package(
            spec_file, run_name=run_name, experiment_name=run_name)
    except Exception as e:  # the kfp server API raises its own ApiException, urllib3's errors
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SubmitError(f"Kubeflow Pipelines at {host or 'the in-cluster endpoint'} did not "
                          f"accept the run: {first_line}") from None
    return result.run_id


def upload_instructions(spec_file: str, experiment: str) -> str:
    return (f"upload {spec_file} in the Kubeflow Pipelines UI, or from an environment with "
            f"kfp==2.5.0: kfp --endpoint HOST run create --experiment-name {experiment} "
            f"--package-file {spec_file}")
