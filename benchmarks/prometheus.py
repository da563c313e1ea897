"""Read Triton's Prometheus metrics: the average dynamic batch size of a model over a run."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

Sample = tuple[str, frozenset[tuple[str, str]]]
"""A metric's name and its labels."""

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')

INFERENCE_COUNT = "nv_inference_count"
"""Inferences (batch items) a model ran."""
EXECUTION_COUNT = "nv_inference_exec_count"
"""Model executions (dynamic batches) a model ran."""


def parse_metrics(text: str) -> dict[Sample, float]:
    """Samples of a Prometheus text exposition (comments and malformed lines skipped)."""
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = frozenset((m["key"], m["value"]) for m in _LABEL.finditer(match["labels"] or ""))
        samples[(match["name"], labels)] = value
    return samples


def model_total(samples: Mapping[Sample, float], name: str, model: str) -> float:
    """Sum of metric ``name`` over every version of ``model``."""
    return sum(
        value for (metric, labels), value in samples.items() if metric == name and ("model", model) in labels
    )


def average_batch_size(
    before: Mapping[Sample, float], after: Mapping[Sample, float], model: str
) -> float | None:
    """Inferences per execution of ``model`` between two scrapes; None when it never ran."""
    executions = model_total(after, EXECUTION_COUNT, model) - model_total(before, EXECUTION_COUNT, model)
    if executions <= 0:
        return None
    inferences = model_total(after, INFERENCE_COUNT, model) - model_total(before, INFERENCE_COUNT, model)
    average = inferences / executions
    return average if math.isfinite(average) else None
