"""Entry point of ``hybrid-inference``.

Each role registers its own sub-commands through a ``register(subparsers)`` function in
its ``cli`` module; they are imported lazily so that, for example, the thin worker's
install does not need torch to run ``hybrid-inference worker``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# sub-command -> module that defines register(subparsers) for it
_COMMANDS: dict[str, str] = {
    "events": "event_bus.cli",
    "export": "export_scripts.cli",
    "check-compat": "export_scripts.compat.cli",
    "triton": "local_stack.cli",
    "up": "local_stack.cli",
    "worker": "worker.cli",
    "api": "operation_server.cli",
    "bench": "benchmarks.cli",
    "rollout": "hybrid_cli.rollout",
    "keys": "hybrid_cli.keys",
    "backtest": "hybrid_client.cli",
}


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every (or the named) role's sub-commands registered."""
    parser = argparse.ArgumentParser(prog="hybrid-inference", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    registered: set[str] = set()
    for name in commands or _COMMANDS:
        module_name = _COMMANDS[name]
        if module_name in registered:
            continue
        registered.add(module_name)
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command and return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    wanted = [args_list[0]] if args_list and args_list[0] in _COMMANDS else None
    parser = build_parser(wanted)
    args = parser.parse_args(args_list)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
