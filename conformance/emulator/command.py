"""`batch-conformance emulator`: serve the reference emulator in the foreground."""

from __future__ import annotations

import argparse
import os
import sys

from conformance.emulator import faults
from conformance.emulator.auth import AuthConfig
from conformance.emulator.server import EmbeddedEmulator
from conformance.emulator.state import MODELLED_REIMAGE_SECONDS
from conformance.inventory import load_inventory
from conformance.models import UsageError
from conformance.redaction import register_secret

KEY_ENV = "BATCH_CONFORMANCE_ACCOUNT_KEY"
DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the emulator's flags."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--inventory", metavar="FILE", help="inventory JSON (default: the built-in one)")
    parser.add_argument("--api-version", action="append", dest="api_versions", metavar="V",
                        help="serve this api-version (repeatable; default: every known version)")
    parser.add_argument("--fault", metavar="NAME", help="start with one deliberate deviation (see --list-faults)")
    parser.add_argument("--list-faults", action="store_true", help="print the fault catalogue and exit")
    parser.add_argument("--reimage-seconds", type=float, default=MODELLED_REIMAGE_SECONDS, metavar="S",
                        help="how long a node stays `reimaging` after a 202 (default "
                             f"{MODELLED_REIMAGE_SECONDS:g}, as in the emulator `run` embeds; 0: at once)")
    parser.add_argument("--account-name", metavar="NAME",
                        help=f"require authentication for this account (Shared Key from ${KEY_ENV})")
    parser.add_argument("--bearer-token-env", metavar="VAR",
                        help="also accept the bearer token held in this environment variable")


def list_faults() -> str:
    """One line per fault: name, the requirements it breaks, description."""
    rows = [(f.name, ",".join(f.breaks), f.description) for f in faults.catalogue()]
    width = max(len(r[0]) for r in rows)
    bwidth = max(len(r[1]) for r in rows)
    return "\n".join(f"{n:<{width}}  {b:<{bwidth}}  {d}" for n, b, d in rows)


def auth_from_args(args: argparse.Namespace) -> AuthConfig | None:
    """The AuthConfig the flags and environment ask for, or None (no authentication)."""
    if args.bearer_token_env and not args.account_name:
        raise UsageError("--bearer-token-env needs --account-name")
    if not args.account_name:
        return None
    key = os.environ.get(KEY_ENV) or None
    register_secret(key)
    tokens: frozenset[str] = frozenset()
    if args.bearer_token_env:
        token = os.environ.get(args.bearer_token_env)
        if not token:
            raise UsageError(f"environment variable {args.bearer_token_env} is not set")
        register_secret(token)
        tokens = frozenset({token})
    if key is None and not tokens:
        raise UsageError(f"--account-name needs a Shared Key in ${KEY_ENV} or --bearer-token-env")
    return AuthConfig(args.account_name, key, tokens)


def main(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; exit 0 after a clean stop."""
    if args.list_faults:
        print(list_faults())
        return 0
    if args.reimage_seconds < 0:
        raise UsageError("--reimage-seconds must not be negative")
    inventory = load_inventory(args.inventory) if args.inventory else None
    emulator = EmbeddedEmulator(inventory=inventory, api_versions=args.api_versions, fault=args.fault,
                                reimage_seconds=args.reimage_seconds, auth=auth_from_args(args),
                                host=args.host, port=args.port)
    emulator.start()
    print(emulator.url, flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        emulator.stop()
    return 0
