"""``hybrid-inference keys create|list|revoke``: API keys, straight in the database.

``create`` prints the new key once, alone on the last line of stdout; only its hash is kept.
"""

from __future__ import annotations

import argparse
import sys

from hybrid_core.errors import HybridError
from hybrid_core.settings import get_settings
from job_store.api_keys import SCOPES, KeyStore
from job_store.database import make_engine, make_session_factory, migrate


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="create, list or revoke API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="the key's name (lower-case, digits, '_', '-')")
    create.add_argument(
        "--scopes", default="jobs", help=f"comma-separated, among {','.join(sorted(SCOPES))} (default: jobs)"
    )
    create.add_argument("--tenant", default=None, help="who owns the key's jobs (default: the name)")
    create.add_argument(
        "--rate-per-s", type=float, default=None, help="submissions per second (default: the API's)"
    )
    create.add_argument(
        "--max-in-flight", type=int, default=None, help="jobs queued or running (default: the API's)"
    )
    actions.add_parser("list", help="every key: name, tenant, scopes, revoked")
    revoke = actions.add_parser("revoke", help="revoke a key (the API refuses it within seconds)")
    revoke.add_argument("name")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    engine = make_engine(get_settings().resolved_database_url, pool_size=1)
    try:
        migrate(engine)
        keys = KeyStore(make_session_factory(engine))
        if args.action == "create":
            wanted = sorted(s.strip() for s in args.scopes.split(",") if s.strip())
            limits = {"rate_per_s": args.rate_per_s, "max_in_flight": args.max_in_flight}
            key = keys.create(args.name, wanted, tenant=args.tenant, **limits)
            print(f"created key {args.name!r} with scopes {','.join(wanted)}; it is shown only now:")
            print(key)
        elif args.action == "list":
            for record in keys.list():
                state = "revoked" if record.revoked else "active"
                rate = record.rate_per_s or "default"
                in_flight = record.max_in_flight or "default"
                print(
                    f"{record.name}\ttenant={record.tenant}\tscopes={','.join(sorted(record.scopes))}\t"
                    f"rate_per_s={rate}\tmax_in_flight={in_flight}\t{state}"
                )
        else:
            keys.revoke(args.name)
            print(f"revoked key {args.name!r}")
    except HybridError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
