"""The `unirec` command line."""
import argparse
import contextlib
import os
import sys
import warnings
from typing import List, Optional

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# google-cloud client libraries warn about Python 3.10 at every import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def config_overrides(args: argparse.Namespace) -> dict:
    overrides = {}
    if args.dataset:
        overrides["dataset"] = {"name": args.dataset}
        if args.data_dir:
            overrides["dataset"]["data_dir"] = args.data_dir
    elif args.data_dir:
        overrides["dataset.data_dir"] = args.data_dir
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if args.no_cache:
        overrides["enable_cache"] = False
    for assignment in args.set or []:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {assignment!r}")
        overrides[key] = _parse_value(value)
    return overrides


@contextlib.contextmanager
def _silenced_output_fds():
    """Sends file descriptors 1 and 2 (subprocesses included) to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def compile_quietly(tfx_pipeline):
    """The pipeline IR, built without setuptools' page of output per module file.

    Compiling packages each module file into a wheel in a `setup.py bdist_wheel`
    subprocess; this is LocalDagRunner.run's own first step (TFX 1.16).
    """
    from tfx.orchestration.portable import tfx_runner

    with _silenced_output_fds():
        return tfx_runner._make_pipeline_proto(tfx_pipeline)  # pylint: disable=protected-access


def run(args: argparse.Namespace) -> int:
    from pipeline import config as config_lib

    try:
        config = config_lib.load_config(args.config, config_overrides(args))
    except ValueError as e:
        print(f"unirec: {e}", file=sys.stderr)
        return 2

    from tfx import v1 as tfx

    from pipeline import pipeline as pipeline_lib
    from pipeline import progress, run_summary

    # TFX pip-installs each module file's wheel into a temporary folder per run.
    os.environ.setdefault("PIP_QUIET", "1")
    print(f"Pipeline {config.pipeline_name!r} on dataset {config.dataset.get('name')!r}; "
          f"output under {config.output_dir}")
    tracker = progress.ComponentProgress()
    progress.attach(tracker)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tfx.orchestration.LocalDagRunner().run_with_ir(
        compile_quietly(pipeline_lib.create_pipeline(config)))

    print("\n" + tracker.table())
    summary = run_summary.read(config.metadata_path)
    if summary.evaluation:
        blessing = summary.evaluation["blessing"]
        print(f"\nRetrieval metrics on {summary.evaluation['num_users']} users, "
              f"{summary.evaluation['num_items']} items (full catalogue, training items excluded):")
        print(run_summary.format_metrics(summary.evaluation))
        print(f"\nBlessing: {blessing['metric']} {blessing['model']:.4f} vs threshold "
              f"{blessing['threshold']:.4f} from {blessing['baseline']}: "
              f"{'blessed' if blessing['blessed'] else 'NOT blessed'}")
    if summary.pushed_model_dir:
        print(f"Pushed model: {summary.pushed_model_dir}")
    else:
        print("No model was pushed: it did not beat the baseline.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unirec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="run the TFX pipeline locally")
    run_parser.add_argument("--config", help="YAML config (default: the synthetic catalogue)")
    run_parser.add_argument("--dataset", help="synthetic | movielens-100k | csv (replaces the config's dataset)")
    run_parser.add_argument("--data-dir", help="folder of the dataset's files (e.g. extracted ml-100k)")
    run_parser.add_argument("--output-dir", help="where pipeline artifacts, metadata and models go")
    run_parser.add_argument("--no-cache", action="store_true", help="rerun every component")
    run_parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                            help="override a config value, e.g. --set retrieval.epochs=3")
    run_parser.set_defaults(handler=run)

    serve_parser = commands.add_parser(
        "serve", add_help=False,
        help="serve pushed models over TF Serving's REST and gRPC APIs "
             "(tensorflow_model_server's flags; --help for the list)")
    serve_parser.set_defaults(handler=None)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from serving import cli as serving_cli

        return serving_cli.main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
