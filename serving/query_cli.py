"""`unirec query`: recommendations from served models over TF Serving's REST or gRPC API.

    unirec query retrieve u0001 --history i00012 i00007 --k 10
    unirec query rank u0001 i00001 i00002 i00003
    unirec query recommend u0001 --history i00012 --seen i00003 --k 10 --protocol grpc
    unirec query recommend u0001 --history i00012 i00007 --explain
    unirec query recommend p3f2a9c01d4e6b7a8 --pseudonym --history i00012

The models know users by pseudonyms (keyed hashes, see the README's privacy
section): the user id given is hashed with the pipeline's key
(UNIREC_PSEUDONYM_KEY, --key-file, or this machine's key) before it is sent;
with --pseudonym it is sent as is. An id the pipeline never saw is an unknown
user, answered from the history and user features alone.

`recommend` retrieves candidates with the retrieval model, scores them with the
ranking model's `score` signature, drops the items listed with --seen (default:
the history) and prints the top k; without a served ranking model it keeps the
retrieval order and says so. `--explain` adds, per item, the history items that
made the retrieval model choose it and their share of its score (the retrieval
model's `explain` signature). Exit status: 0, or 1 when the server refused or
could not be reached.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Sequence

from serving.client import (GrpcClient, ModelNotFoundError, RestClient, ServerUnavailableError, ServingClientError,
                            TlsFiles)
from data_contract import pseudonyms
from serving.recommend import RANKING_MODEL, RETRIEVAL_MODEL, TwoStageRecommender, UserQuery

DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}


def _feature(text: str) -> tuple[str, int | float | str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    for convert in (int, float):
        try:
            return name, convert(value)
        except ValueError:
            pass
    return name, value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--protocol", choices=sorted(DEFAULT_PORTS), default="rest", help="API to call (default rest)")
    common.add_argument("--host", default="127.0.0.1", help="model server host (default 127.0.0.1)")
    common.add_argument("--port", type=int, help="model server port (default 8501 for REST, 8500 for gRPC)")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each call")
    common.add_argument("--history", nargs="*", default=[], metavar="ITEM",
                        help="the user's recent items, most recent first")
    common.add_argument("--feature", action="append", type=_feature, default=[], metavar="NAME=VALUE",
                        help="another user feature the models take, e.g. user_age=31")
    common.add_argument("--pseudonym", action="store_true",
                        help="the user id is already a pseudonym: send it as is instead of hashing it")
    common.add_argument("--key-file", default="", metavar="PATH",
                        help=f"the pseudonym key's file when {pseudonyms.KEY_ENV} is not set "
                             "(default: this machine's key)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("--ca-cert", metavar="PEM",
                        help="talk TLS, trusting this CA for the server's certificate (HTTPS for REST)")
    common.add_argument("--client-cert", metavar="PEM", help="this client's certificate, for mutual TLS")
    common.add_argument("--client-key", metavar="PEM", help="this client's private key, for mutual TLS")

    parser = argparse.ArgumentParser(prog="unirec query", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    retrieve = commands.add_parser("retrieve", parents=[common], help="top-k items from the retrieval model")
    retrieve.add_argument("user_id")
    retrieve.add_argument("--k", type=_positive_int, default=10, help="how many items (default 10)")
    retrieve.add_argument("--model", default=RETRIEVAL_MODEL, help=f"retrieval model name (default {RETRIEVAL_MODEL})")
    rank = commands.add_parser("rank", parents=[common], help="score items for a user with the ranking model")
    rank.add_argument("user_id")
    rank.add_argument("item_ids", nargs="+", metavar="ITEM")
    rank.add_argument("--model", default=RANKING_MODEL, help=f"ranking model name (default {RANKING_MODEL})")
    recommend = commands.add_parser("recommend", parents=[common], help="retrieve, rank, drop seen items")
    recommend.add_argument("user_id")
    recommend.add_argument("--k", type=_positive_int, default=10, help="how many items (default 10)")
    recommend.add_argument("--seen", nargs="*", metavar="ITEM",
                           help="items not to recommend (default: the --history items)")
    recommend.add_argument("--explain", action="store_true",
                           help="say which history items made retrieval choose each item")
    recommend.add_argument("--retrieval-model", default=RETRIEVAL_MODEL,
                           help=f"model giving the candidates (default {RETRIEVAL_MODEL})")
    recommend.add_argument("--ranking-model", default=RANKING_MODEL,
                           help=f"model scoring them (default {RANKING_MODEL})")
    return parser


def make_client(args: argparse.Namespace) -> RestClient | GrpcClient:
    port = args.port or DEFAULT_PORTS[args.protocol]
    client_class = RestClient if args.protocol == "rest" else GrpcClient
    tls = None
    if args.ca_cert or args.client_cert or args.client_key:
        if bool(args.client_cert) != bool(args.client_key):
            raise SystemExit("unirec query: --client-cert and --client-key go together")
        tls = TlsFiles(args.ca_cert, args.client_cert, args.client_key)
    return client_class(args.host, port, timeout=args.timeout, tls=tls)


def run_command(args: argparse.Namespace, client: RestClient | GrpcClient) -> dict:
    """Runs one subcommand; returns {item_ids, scores, model, ...} for printing."""
    query = UserQuery(args.user_id, args.history, dict(args.feature))
    pseudonymiser = (None if args.pseudonym else
                     pseudonyms.Pseudonymiser(pseudonyms.resolve_key(args.key_file, create=False)))
    if args.command == "retrieve":
        item_ids, scores = TwoStageRecommender(client, retrieval_model=args.model,
                                               pseudonymiser=pseudonymiser).retrieve(query)
        return {"model": args.model, "item_ids": item_ids[:args.k], "scores": scores[:args.k]}
    if args.command == "rank":
        scores = TwoStageRecommender(client, ranking_model=args.model,
                                     pseudonymiser=pseudonymiser).score(query, args.item_ids)
        ranked = sorted(zip(args.item_ids, scores), key=lambda pair: -pair[1])
        return {"model": args.model, "item_ids": [item for item, _ in ranked], "scores": [s for _, s in ranked]}
    result = TwoStageRecommender(client, args.retrieval_model, args.ranking_model, pseudonymiser).recommend(
        query, args.k, args.seen, explain=args.explain)
    output = {"model": result.ranked_by, "item_ids": result.item_ids, "scores": result.scores,
              "fallback_reason": result.fallback_reason}
    if result.explanations is not None:
        output["explanations"] = [dataclasses.asdict(e) for e in result.explanations]
    return output


def _because(explanation: dict) -> str:
    liked = ", ".join(f"{item} ({share:.0%})" for item, share in explanation["because"])
    return f"because you liked {liked}" if liked else "not from your history"


def format_table(result: dict) -> str:
    explanations = result.get("explanations")
    lines = [f"{'rank':>4}  {'item_id':<20} {'score':>10}" + ("  why" if explanations else "")]
    for position, (item, score) in enumerate(zip(result["item_ids"], result["scores"]), start=1):
        why = f"  {_because(explanations[position - 1])}" if explanations else ""
        lines.append(f"{position:>4}  {item:<20} {score:>10.4f}{why}")
    if not result["item_ids"]:
        lines.append("(no items)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = make_client(args)
    try:
        result = run_command(args, client)
    except ServerUnavailableError as exc:
        print(f"unirec query: {exc}\nIs the model server running (unirec serve ...) on that host and port?",
              file=sys.stderr)
        return 1
    except ModelNotFoundError as exc:
        print(f"unirec query: model not served at {client.address}: {exc}", file=sys.stderr)
        return 1
    except (ServingClientError, pseudonyms.PseudonymKeyError) as exc:
        print(f"unirec query: {exc}", file=sys.stderr)
        return 1
    finally:
        if isinstance(client, GrpcClient):
            client.close()
    if result.get("fallback_reason"):
        print(f"note: {result['fallback_reason']}", file=sys.stderr)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
