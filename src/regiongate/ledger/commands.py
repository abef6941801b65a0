"""The ledger's command-line verbs: ``verify`` (offline), ``audit`` (online, over time), ``ledger check`` (a store),
``ledger serve`` (a region's log writer process).

Exit status: 0 when everything verified, 1 on any mismatch (with what failed), 2 when the input cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from rich.console import Console

from regiongate.errors import ConfigError
from regiongate.ledger.audit import follow
from regiongate.ledger.check import check_log, summarise
from regiongate.ledger.errors import LedgerError, MalformedText, VerificationFailed
from regiongate.ledger.keys import read_verifier
from regiongate.ledger.pg_store import PostgresStore
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import LogStore
from regiongate.ledger.verify import check_output, describe, verify_receipt
from regiongate.ledger.writer import run_writer
from regiongate.settings import log_settings
from regiongate.topology.loader import load_topology

COMMANDS = ("verify", "audit", "ledger")


def add_commands(commands: Any) -> None:  # argparse's _SubParsersAction is private
    verify = commands.add_parser("verify", help="verify a receipt offline with the region's public key")
    verify.add_argument("receipt", type=Path)
    verify.add_argument("--key", required=True, help="the region's verifier key, or a file holding it")
    verify.add_argument("--body", type=Path, help="the exact response body received, to check its logged digest")

    audit = commands.add_parser("audit", help="follow a region's checkpoints; each must extend the last one seen")
    audit.add_argument("url", help="the gateway's base URL, e.g. http://127.0.0.1:8080/v1")
    audit.add_argument("--key", required=True)
    audit.add_argument("--state", type=Path, help="remember the last checkpoint seen here, across runs")
    audit.add_argument("--interval", type=float, default=1.0)
    audit.add_argument("--count", type=int, default=0, help="checkpoints to check (default: forever)")

    ledger = commands.add_parser("ledger", help="the region's log on disk")
    verbs = ledger.add_subparsers(dest="ledger_command", required=True)
    check = verbs.add_parser("check", help="recompute a stored log and compare it with its signed checkpoints")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, help="a SQLite log file")
    where.add_argument("--dsn", help="a PostgreSQL DSN (with --schema)")
    check.add_argument("--schema", help="the log's schema, e.g. ledger_eu_central")
    check.add_argument("--key", required=True)
    serve = verbs.add_parser(
        "serve",
        help="write a region's log for its gateway processes (started with REGIONGATE_LEDGER_SOCKET set to the same"
        " socket); store, data directory and checkpoint interval from the same REGIONGATE_* variables as theirs",
    )
    serve.add_argument("--region", required=True, help="the region whose log this is (its default name)")
    serve.add_argument("--socket", type=Path, help="the Unix socket to listen on (default: $REGIONGATE_LEDGER_SOCKET)")
    serve.add_argument("--config", type=Path, help="a topology file: refuse a region it does not declare")


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        if args.command == "verify":
            return _verify(args, out, err)
        if args.command == "audit":
            return _audit(args, out, err)
        if args.ledger_command == "serve":
            return _serve(args, out, err)
        return asyncio.run(_check(args, out, err))
    except (MalformedText, VerificationFailed) as exc:
        err.print(f"[red]FAILED[/red] {exc}", highlight=False, soft_wrap=True)
        return 1
    except (LedgerError, OSError, aiohttp.ClientError) as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
        return 2


def _verify(args: argparse.Namespace, out: Console, err: Console) -> int:
    verified = verify_receipt(args.receipt.read_bytes(), read_verifier(args.key))
    if args.body is not None:
        check_output(verified, args.body.read_bytes())
    for line in describe(verified):
        out.print(line, highlight=False, soft_wrap=True, markup=False)
    if args.body is not None:
        out.print("the body given is exactly the output logged for this request", highlight=False)
    return 0


def _audit(args: argparse.Namespace, out: Console, err: Console) -> int:
    def report(line: str) -> None:
        out.print(line, highlight=False, soft_wrap=True, markup=False)

    verifier = read_verifier(args.key)
    coro = follow(args.url, verifier, state=args.state, interval=args.interval, count=args.count, report=report)
    try:
        asyncio.run(coro)
    except KeyboardInterrupt:
        return 0
    return 0


def _serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    settings = log_settings()
    socket = args.socket or (Path(settings.ledger_socket) if settings.ledger_socket else None)
    if socket is None:
        raise LedgerError("say where to listen: --socket PATH or REGIONGATE_LEDGER_SOCKET")
    if args.config is not None:
        try:
            topology = load_topology(args.config)
        except ConfigError as exc:
            raise LedgerError(str(exc)) from None
        if args.region not in {dc.region for dc in topology.datacenters.values()}:
            raise LedgerError(f"{args.config} has no datacenter in region {args.region!r}")
    uvloop.run(run_writer(settings, args.region, socket))
    return 0


def _store(args: argparse.Namespace) -> LogStore:
    if args.db is not None:
        if not args.db.exists():
            raise LedgerError(f"no log at {args.db}")
        return SqliteStore(args.db, writer=False)
    if not args.schema:
        raise LedgerError("--dsn needs --schema")
    return PostgresStore(args.dsn, args.schema, writer=False)


async def _check(args: argparse.Namespace, out: Console, err: Console) -> int:
    verifier = read_verifier(args.key)
    store = _store(args)
    await store.open()
    try:
        report = await check_log(store, verifier)
    finally:
        await store.close()
    counts = f"{report.size} leaves recorded, {report.rows} rows, {report.checkpoints} signed checkpoints"
    if report.ok:
        out.print(f"OK: {counts}; every leaf, node and checkpoint recomputes", highlight=False)
        return 0
    err.print(f"[red]TAMPERED[/red]: {counts}", highlight=False)
    for line in summarise(report):
        err.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    sys.stderr.flush()
    return 1
