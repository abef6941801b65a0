"""The ``regiongate`` command: serve · engine · demo · check · explain · keys new · verify · audit · ledger check ·
ledger serve."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from regiongate.api.auth import new_key
from regiongate.engine.options import EngineOptions, add_engine_arguments
from regiongate.errors import ConfigError, StateUnavailable
from regiongate.ledger import commands as ledger_commands
from regiongate.ledger.errors import LedgerError
from regiongate.policy.matrix import ComplianceMatrix
from regiongate.policy.report import explain_json, explain_table, matrix_table
from regiongate.topology.loader import load_topology
from regiongate.topology.records import Topology

EXAMPLE_TOPOLOGY = Path(__file__).parent / "data" / "example-topology.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regiongate", description="A sovereign, OpenAI-compatible AI gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one gateway process")
    serve.add_argument("--config", type=Path, required=True, help="topology file (YAML)")
    serve.add_argument("--gateway", required=True, help="id of the gateway this process is (from the topology)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: the port of the gateway's url")

    engine = commands.add_parser("engine", help="run one embedded engine (llama.cpp) as an OpenAI-compatible server")
    add_engine_arguments(engine)

    demo = commands.add_parser("demo", help="bring up the example world on loopback and tour it")
    demo.add_argument("--once", action="store_true", help="run the tour once and exit (status 0 iff it held)")
    demo.add_argument("--config", type=Path, default=EXAMPLE_TOPOLOGY)
    demo.add_argument("--fake-engines", action="store_true", help="in-process fake backends instead of real engines")

    check = commands.add_parser("check", help="validate a topology and print the compliance matrix")
    check.add_argument("file", type=Path)
    check.add_argument("--at", type=dt.date.fromisoformat, default=None, help="evaluate at this date (ISO)")

    explain = commands.add_parser("explain", help="why each backend and gateway is allowed or refused")
    explain.add_argument("file", type=Path)
    explain.add_argument("--tenant", required=True)
    explain.add_argument("--json", action="store_true")
    explain.add_argument("--at", type=dt.date.fromisoformat, default=None)

    keys = commands.add_parser("keys", help="API keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("new", help="print a fresh API key and the sha256 form for the topology")
    ledger_commands.add_commands(commands)
    return parser


def _today(at: dt.date | None) -> dt.date:
    return at or dt.datetime.now(dt.UTC).date()


def _load(path: Path, err: Console) -> Topology | None:
    try:
        return load_topology(path)
    except ConfigError as exc:
        err.print(f"[red]invalid topology[/red] {exc}", highlight=False, soft_wrap=True)
        return None
    except OSError as exc:
        err.print(f"[red]cannot read[/red] {path}: {exc.strerror}", highlight=False)
        return None


def cmd_check(args: argparse.Namespace, out: Console, err: Console) -> int:
    topology = _load(args.file, err)
    if topology is None:
        return 1
    matrix = ComplianceMatrix.build(topology, _today(args.at))
    out.print(
        f"{args.file}: valid — {len(topology.tenants)} tenants, {len(topology.backends)} backends, "
        f"{len(topology.gateways)} gateways (evaluated at {matrix.at.isoformat()})",
        highlight=False,
        soft_wrap=True,
    )
    out.print(matrix_table(matrix))
    out.print(matrix_table(matrix, gateways=True))
    return 0


def cmd_explain(args: argparse.Namespace, out: Console, err: Console) -> int:
    topology = _load(args.file, err)
    if topology is None:
        return 1
    if args.tenant not in topology.tenants:
        err.print(f"[red]unknown tenant[/red] {args.tenant!r}; known: {', '.join(sorted(topology.tenants))}")
        return 2
    matrix = ComplianceMatrix.build(topology, _today(args.at))
    if args.json:
        sys.stdout.write(json.dumps(explain_json(matrix, args.tenant), indent=2, sort_keys=True) + "\n")
    else:
        out.print(explain_table(matrix, args.tenant))
    return 0


def cmd_keys_new(out: Console) -> int:
    key, digest = new_key()
    out.print(f'key:    {key}\ntopology entry: "{digest}"', highlight=False, soft_wrap=True)
    return 0


def cmd_serve(args: argparse.Namespace, err: Console) -> int:
    from regiongate.serve import run_gateway  # imports the server stack only when serving

    topology = _load(args.config, err)
    if topology is None:
        return 1
    if args.gateway not in topology.gateways:
        err.print(f"[red]unknown gateway[/red] {args.gateway!r}; known: {', '.join(sorted(topology.gateways))}")
        return 2
    try:
        return run_gateway(topology, args.config, args.gateway, args.host, args.port)
    except ConfigError as exc:  # a setting from the environment (REGIONGATE_*) is not valid
        err.print(f"[red]invalid setting[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    except LedgerError as exc:  # the region's log cannot be opened or reached: the gateway must not start
        err.print(f"[red]cannot open the decision log:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    except StateUnavailable as exc:  # REGIONGATE_STATE_URL names a Redis that does not answer
        err.print(f"[red]cannot reach the gateways' shared state:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2


def cmd_engine(args: argparse.Namespace) -> int:
    from regiongate.engine.process import run_engine  # loads llama.cpp only when running an engine

    return run_engine(EngineOptions.from_args(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from regiongate.demo import fake_engine, run_demo

    return asyncio.run(run_demo(args.config, once=args.once, engine_factory=fake_engine if args.fake_engines else None))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out, err = Console(), Console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "check":
        return cmd_check(args, out, err)
    if args.command == "explain":
        return cmd_explain(args, out, err)
    if args.command == "keys":
        return cmd_keys_new(out)
    if args.command == "serve":
        return cmd_serve(args, err)
    if args.command == "engine":
        return cmd_engine(args)
    if args.command in ledger_commands.COMMANDS:
        return ledger_commands.run(args, out, err)
    return cmd_demo(args)


if __name__ == "__main__":
    sys.exit(main())
