"""The `unirec` command line."""
import argparse
import os
import sys
from typing import List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _parse_value(key: str, text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"--set {key}: {text!r} is not a YAML value ({e})") from None


def config_overrides(args: argparse.Namespace) -> dict:
    from pipeline import config as config_lib

    overrides = config_lib.dataset_overrides(args.dataset, args.data_dir)
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if getattr(args, "no_cache", False):
        overrides["enable_cache"] = False
    overrides.update(set_overrides(args.set or []))
    return overrides


def set_overrides(assignments: List[str]) -> dict:
    """--set KEY=VALUE assignments as config overrides (values are YAML)."""
    overrides = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {assignment!r}")
        overrides[key] = _parse_value(key, value)
    return overrides


def load_run_config(args: argparse.Namespace):
    """The config `unirec run` would use; ValueError names what is wrong."""
    from pipeline import config as config_lib

    return config_lib.load_config(args.config, config_overrides(args))


def run(args: argparse.Namespace) -> int:
    try:
        config = load_run_config(args)
    except ValueError as e:
        print(f"unirec: {e}", file=sys.stderr)
        return 2
    if args.engine != "local":
        return submit(args, config)
    from pipeline import config as config_lib

    if config_lib.is_uri(config.output_dir):
        print(f"unirec: output_dir {config.output_dir!r} is a bucket; a local run keeps ML Metadata "
              "in SQLite under output_dir: give a local output_dir, or submit the run with "
              "--engine vertex|kubeflow", file=sys.stderr)
        return 2

    from pipeline import progress, run_lock, run_summary

    print(f"Pipeline {config.pipeline_name!r} on dataset {config.dataset.get('name')!r}; "
          f"output under {config.output_dir}")
    try:
        summary = progress.run_pipeline(config)
    except run_lock.RunLockedError as e:
        print(f"unirec: {e}", file=sys.stderr)
        return 3
    if summary.evaluation:
        blessing = summary.evaluation["blessing"]
        print("\n" + run_summary.format_heading(summary.evaluation))
        print(run_summary.format_metrics(summary.evaluation))
        print(f"\nBlessing: {blessing['metric']} {blessing['model']:.4f} vs threshold "
              f"{blessing['threshold']:.4f} from {blessing['baseline']}: "
              f"{'blessed' if blessing['blessed'] else 'NOT blessed'}")
        if "note" in blessing:
            print(f"  ({blessing['note']})")
    if summary.ranking_metrics:
        print("Ranking model (TFMA, overall slice): " + ", ".join(
            f"{name} {value:.4f}" for name, value in sorted(summary.ranking_metrics.items())))
    if summary.pushed_model_dir:
        print(f"Pushed model: {summary.pushed_model_dir}")
    else:
        print("No model was pushed: it did not beat the baseline.")
    return 0


def forget(args: argparse.Namespace) -> int:
    from data_contract import pseudonyms

    try:
        config = load_run_config(args)
        pseudonymiser = pseudonyms.Pseudonymiser(pseudonyms.resolve_key(config.privacy.key_file))
        added = [pseudonyms.forget(pseudonymiser, user, config.erased_users_path)[1]
                 for user in args.user]
    except ValueError as e:
        print(f"unirec: {e}", file=sys.stderr)
        return 2
    # The raw ids are not echoed: this output may end up in a log.
    print(f"{sum(added)} user(s) added to the erasure list {config.erased_users_path} "
          f"({len(added) - sum(added)} already on it). The next `unirec run` leaves their "
          "interactions out and retrains; delete older runs' outputs to remove them from those.")
    return 0


def audit(args: argparse.Namespace) -> int:
    from pipeline import privacy_audit

    return privacy_audit.main(args)


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config (default: the synthetic catalogue)")
    parser.add_argument("--dataset", help="synthetic | movielens-100k | csv (replaces the config's dataset)")
    parser.add_argument("--data-dir", help="folder of the dataset's files (e.g. extracted ml-100k)")
    parser.add_argument("--output-dir", help="where pipeline artifacts, metadata and models go")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config value, e.g. --set retrieval.epochs=3")


def submit(args: argparse.Namespace, config) -> int:
    """`unirec run --engine vertex|kubeflow`: compiles the pipeline and submits it."""
    from pipeline import config as config_lib, remote_submit

    image = args.image or os.environ.get("UNIREC_IMAGE")
    if not image:
        print("unirec: no pipeline image: pass --image or set UNIREC_IMAGE (an image with this "
              "package installed, see deploy/README.md)", file=sys.stderr)
        return 2
    if not config_lib.is_uri(config.output_dir):
        print(f"unirec: output_dir {config.output_dir!r} is a local path; --engine {args.engine} "
              "needs a bucket the cluster can write (gs://BUCKET/unirec, see "
              "pipeline/configs/vertex.yaml)", file=sys.stderr)
        return 2
    job_file = args.job_file or f"{config.pipeline_name}_pipeline.json"
    try:
        if args.engine == "vertex":
            return _submit_vertex(args, config, image, job_file)
        return _submit_kubeflow(args, config, image, job_file)
    except ValueError as e:  # the compiler refused the pipeline
        print(f"unirec: {e}", file=sys.stderr)
        return 2
    except remote_submit.SubmitError as e:
        print(f"unirec: {e}", file=sys.stderr)
        return 4


def _submit_vertex(args: argparse.Namespace, config, image: str, job_file: str) -> int:
    from pipeline import kubeflow_v2_runner, remote_submit

    # Credentials first: without them nothing is compiled.
    credentials, project = remote_submit.google_credentials(args.project)
    region = args.region or os.environ.get("GOOGLE_CLOUD_REGION") or remote_submit.DEFAULT_REGION
    kubeflow_v2_runner.compile_pipeline(config, image, job_file)
    name = remote_submit.submit_vertex(job_file, project, region, credentials,
                                       args.service_account)
    print(f"Submitted {job_file} to Vertex AI Pipelines: {name}")
    return 0


def _submit_kubeflow(args: argparse.Namespace, config, image: str, job_file: str) -> int:
    from pipeline import kubeflow_v2_runner, remote_submit

    kubeflow_v2_runner.compile_pipeline(config, image, job_file)
    spec_file = kubeflow_v2_runner.write_pipeline_spec(
        job_file, os.path.splitext(job_file)[0] + "_spec.json")
    try:
        remote_submit.kfp_client_class()
    except remote_submit.SubmitError as e:
        raise remote_submit.SubmitError(
            f"compiled {spec_file} but did not submit it: {e}; "
            + remote_submit.upload_instructions(spec_file, config.pipeline_name)) from None
    run_id = remote_submit.submit_kubeflow(spec_file, args.kfp_host, config.pipeline_name)
    print(f"Submitted {spec_file} to Kubeflow Pipelines: run {run_id}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unirec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser(
        "run", help="run the TFX pipeline here, or compile it and submit it to Vertex AI "
                    "Pipelines or Kubeflow Pipelines")
    _add_config_arguments(run_parser)
    run_parser.add_argument("--no-cache", action="store_true", help="rerun every component")
    remote = run_parser.add_argument_group(
        "remote engines", "--engine vertex|kubeflow compiles the pipeline and submits it")
    remote.add_argument("--engine", choices=("local", "vertex", "kubeflow"), default="local",
                        help="local (default): LocalDagRunner in this process")
    remote.add_argument("--image", help="the container image with this package installed "
                                        "(default: $UNIREC_IMAGE)")
    remote.add_argument("--job-file", help="where the compiled pipeline goes "
                                           "(default: PIPELINE_NAME_pipeline.json here)")
    remote.add_argument("--project", help="Vertex: Google Cloud project (default: "
                                          "$GOOGLE_CLOUD_PROJECT, then the credentials' project)")
    remote.add_argument("--region", help="Vertex: region (default: $GOOGLE_CLOUD_REGION, "
                                         "then us-central1)")
    remote.add_argument("--service-account", help="Vertex: the service account the run uses")
    remote.add_argument("--kfp-host", help="Kubeflow: the Pipelines API endpoint (default: "
                                           "$KF_PIPELINES_ENDPOINT, then the in-cluster service)")
    run_parser.set_defaults(handler=run)

    forget_parser = commands.add_parser(
        "forget", help="put users on the erasure list: the next run leaves their data out")
    forget_parser.add_argument("--user", action="append", required=True, metavar="ID",
                               help="the user's raw id, as in the dataset (repeatable)")
    _add_config_arguments(forget_parser)
    forget_parser.set_defaults(handler=forget)

    audit_parser = commands.add_parser(
        "audit", help="search everything a run wrote for raw user ids and forgotten users")
    _add_config_arguments(audit_parser)
    from pipeline import privacy_audit

    privacy_audit.add_arguments(audit_parser)
    audit_parser.set_defaults(handler=audit)

    benchmark_parser = commands.add_parser(
        "benchmark", help="run evaluation protocols (P1-P4) for each family against baselines; "
                          "writes a Markdown/JSON table and plots")
    from pipeline.benchmark import command as benchmark_command

    benchmark_command.add_arguments(benchmark_parser)
    benchmark_parser.set_defaults(handler=benchmark_command.main)

    scale_parser = commands.add_parser(
        "scale-benchmark", help="run the pipeline on synthetic catalogues of MovieLens shapes "
                                "(1M, 10M, 25M); writes wall time, peak memory and examples/s "
                                "per component as a table and a plot")
    from pipeline.scale_benchmark import command as scale_command

    scale_command.add_arguments(scale_parser)
    scale_parser.set_defaults(handler=scale_command.main)

    serve_parser = commands.add_parser(
        "serve", add_help=False,
        help="serve pushed models over TF Serving's REST and gRPC APIs "
             "(tensorflow_model_server's flags; --help for the list)")
    serve_parser.set_defaults(handler=None)
    query_parser = commands.add_parser(
        "query", add_help=False,
        help="retrieve, rank or recommend from served models over REST or gRPC "
             "(--help for the options)")
    query_parser.set_defaults(handler=None)
    soak_parser = commands.add_parser(
        "soak", add_help=False,
        help="REST + gRPC load on a pushed model while new versions are pushed; reports errors, "
             "p50/p99 and the server's memory (--help for the options)")
    soak_parser.set_defaults(handler=None)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["query"]:
        from serving import query_cli

        return query_cli.main(argv[1:])
    if argv[:1] == ["serve"]:
        from serving import cli as serving_cli

        return serving_cli.main(argv[1:])
    if argv[:1] == ["soak"]:
        from serving import soak

        return soak.main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
