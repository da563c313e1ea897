"""Argument parsing of ``hybrid-inference bench`` and of the baseline worker."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.baseline_worker import worker_argv
from benchmarks.cli import parse_concurrency, parse_configs
from benchmarks.runner import CONFIG_NAMES
from benchmarks.torchscript import preload_list
from hybrid_cli.main import build_parser


def test_parse_concurrency_reads_commas_and_pluses() -> None:
    assert parse_concurrency("1,16,64") == [1, 16, 64]
    assert parse_concurrency("1+64") == [1, 64]


@pytest.mark.parametrize("text", ["", "0", "1,-2", "x"])
def test_parse_concurrency_rejects_non_positive_or_garbage(text: str) -> None:
    with pytest.raises((argparse.ArgumentTypeError, ValueError)):
        parse_concurrency(text)


def test_parse_configs_uses_the_default_levels_unless_overridden() -> None:
    assert parse_configs("triton,triton-nobatch,hybrid@64", [1, 16]) == [
        ("triton", [1, 16]),
        ("triton-nobatch", [1, 16]),
        ("hybrid", [64]),
    ]


def test_parse_configs_includes_seed_and_baseline_when_given_every_name() -> None:
    # --quick and the full run both default to every configuration.
    assert {"seed", "baseline"} <= set(CONFIG_NAMES)
    names = [name for name, _ in parse_configs(",".join(CONFIG_NAMES), [1])]
    assert names == list(CONFIG_NAMES)


def test_parse_configs_rejects_unknown_names() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="unknown configuration"):
        parse_configs("baseline,turbo", [1])


def test_bench_subcommand_is_registered_with_its_options() -> None:
    args = build_parser(["bench"]).parse_args(
        ["bench", "--quick", "--concurrency", "1,2", "--bulk-series", "0"]
    )
    assert args.quick is True
    assert args.concurrency == "1,2"
    assert args.bulk_series == 0


def test_preload_list_reads_model_version_pairs() -> None:
    assert preload_list("a:1, b:2,") == [("a", "1"), ("b", "2")]
    with pytest.raises(ValueError):
        preload_list("a")


def test_baseline_worker_uses_the_prefork_pool_on_the_jobs_queue() -> None:
    argv = worker_argv(2, "WARNING")
    assert "--pool=prefork" in argv
    assert "--concurrency=2" in argv
    assert any(a.startswith("--queues=") for a in argv)
