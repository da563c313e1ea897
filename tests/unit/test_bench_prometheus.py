"""Prometheus text parsing and Triton's average batch size over a run."""

from __future__ import annotations

import pytest

from benchmarks.prometheus import average_batch_size, model_total, parse_metrics


def _scrape(inferences: float, executions: float, other_inferences: float = 0.0) -> str:
    return f"""\
# HELP nv_inference_count Number of inferences performed (does not include cached requests)
# TYPE nv_inference_count counter
nv_inference_count{{model="lstm_timeseries",version="1"}} {inferences}
nv_inference_count{{model="lstm_timeseries_nobatch",version="1"}} {other_inferences}
# HELP nv_inference_exec_count Number of model executions performed
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{{model="lstm_timeseries",version="1"}} {executions}
nv_inference_exec_count{{model="lstm_timeseries_nobatch",version="1"}} {other_inferences}
nv_cpu_utilization 0.25
"""


def test_parse_metrics_reads_names_labels_and_values() -> None:
    samples = parse_metrics(_scrape(10, 2))
    key = ("nv_inference_count", frozenset({("model", "lstm_timeseries"), ("version", "1")}))
    assert samples[key] == 10.0
    assert samples[("nv_cpu_utilization", frozenset())] == 0.25


def test_parse_metrics_skips_comments_and_malformed_lines() -> None:
    samples = parse_metrics('# TYPE x counter\nnot a metric line\nx{a="b"} notanumber\ny 1e3\n')
    assert samples == {("y", frozenset()): 1000.0}


def test_parse_metrics_keeps_escaped_quotes_in_label_values() -> None:
    samples = parse_metrics('m{reason="say \\"hi\\"",model="a"} 2\n')
    ((name, labels),) = samples
    assert name == "m"
    assert ("model", "a") in labels


def test_model_total_sums_every_version_of_the_model_only() -> None:
    text = 'nv_inference_count{model="m",version="1"} 3\nnv_inference_count{model="m",version="2"} 4\n'
    text += 'nv_inference_count{model="other",version="1"} 100\n'
    assert model_total(parse_metrics(text), "nv_inference_count", "m") == 7.0


def test_average_batch_size_is_the_delta_ratio_of_the_model() -> None:
    before = parse_metrics(_scrape(inferences=100, executions=50, other_inferences=7))
    after = parse_metrics(_scrape(inferences=1100, executions=90, other_inferences=900))
    assert average_batch_size(before, after, "lstm_timeseries") == pytest.approx(25.0)
    assert average_batch_size(before, after, "lstm_timeseries_nobatch") == pytest.approx(1.0)


def test_average_batch_size_is_none_when_the_model_did_not_run() -> None:
    scrape = parse_metrics(_scrape(inferences=5, executions=5))
    assert average_batch_size(scrape, scrape, "lstm_timeseries") is None
    assert average_batch_size({}, {}, "lstm_timeseries") is None
