"""The `unirec` command line."""
import argparse
import os
import sys
import warnings
from typing import List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# google-cloud client libraries warn about Python 3.10 at every import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")


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
    for assignment in args.set or []:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unirec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="run the TFX pipeline locally")
    _add_config_arguments(run_parser)
    run_parser.add_argument("--no-cache", action="store_true", help="rerun every component")
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
