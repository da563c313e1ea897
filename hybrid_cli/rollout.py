"""``hybrid-inference rollout status|start|promote|rollback|report MODEL``: the rollout API from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx

from hybrid_core.settings import get_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    settings = get_settings()
    parser = subparsers.add_parser("rollout", help="show or change a model's canary rollout")
    parser.add_argument(
        "--api", default=f"http://{settings.api_host}:{settings.api_port}", help="API base URL"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("HYBRID_ADMIN_TOKEN"),
        help="admin bearer token (default: $HYBRID_ADMIN_TOKEN)",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("status", "the model's policy and the versions READY in Triton"),
        ("report", "canary vs stable on live traffic, with the guards' verdict"),
        ("promote", "make the canary the stable version"),
        ("rollback", "send all unpinned traffic back to stable"),
        ("audit", "every change of the policy, newest first"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("model")
    start = actions.add_parser("start", help="start (or re-weight) a canary")
    start.add_argument("model")
    start.add_argument("--canary", required=True, help="version to try")
    start.add_argument("--weight", type=float, required=True, help="share of unpinned traffic, 0..1")
    start.add_argument("--stable", help="stable version (default: the current one)")
    start.add_argument("--pinnable", default="", help="comma-separated versions kept loaded for pinning")
    start.add_argument("--shadow-share", type=float, default=0.0, help="share of stable jobs mirrored")
    start.add_argument("--min-requests", type=int, help="guard: canary requests before judging")
    start.add_argument("--max-error-rate-delta", type=float, help="guard: allowed extra error rate")
    start.add_argument("--max-p99-ratio", type=float, help="guard: allowed p99 ratio to stable")
    start.add_argument(
        "--max-mase-ratio", type=float, help="guard: allowed canary MASE over stable's on points both scored"
    )
    start.add_argument("--min-scored-points", type=int, help="guard: points both arms scored before judging")
    parser.set_defaults(handler=run)


def _start_body(client: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    current = _checked(client.get(f"/v1/models/{args.model}/rollout"))
    guards = dict(current.get("guards") or {})
    for name in (
        "min_requests",
        "max_error_rate_delta",
        "max_p99_ratio",
        "max_mase_ratio",
        "min_scored_points",
    ):
        value = getattr(args, name)
        if value is not None:
            guards[name] = value
    return {
        "stable": args.stable or current["stable"],
        "canary": args.canary,
        "canary_weight": args.weight,
        "pinnable": [v for v in args.pinnable.split(",") if v] or current.get("pinnable", []),
        "shadow_share": args.shadow_share,
        "guards": guards,
    }


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            error = response.json().get("error", {})
            message = error.get("message", response.text)
        except ValueError:
            message = response.text
        raise SystemExit(f"error {response.status_code}: {message}")
    return response.json()


def run(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    base = f"/v1/models/{args.model}/rollout"
    with httpx.Client(base_url=args.api, headers=headers, timeout=180) as client:
        if args.action == "status":
            body = _checked(client.get(base))
        elif args.action == "report":
            body = _checked(client.get(f"{base}/report"))
        elif args.action == "audit":
            body = _checked(client.get(f"{base}/audit"))
        elif args.action == "start":
            body = _checked(client.put(base, json=_start_body(client, args)))
        else:
            body = _checked(client.post(f"{base}/{args.action}"))
    json.dump(body, sys.stdout, indent=2, default=str)
    print()
    return 0
