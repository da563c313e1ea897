"""Every artifact of a repository, run by each runtime of an image and compared with the reference.

The repository keeps no reference outputs, so the reference is computed here, in the main
environment (the exporter's torch and onnxruntime), from the same artifact on the same held-out
windows: what the exporter checked against the eager model at export time (``params.json``:
``export_max_abs_diff_vs_eager``). Each image runtime then runs the artifacts in its own
environment, in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export_scripts.compat import runner
from export_scripts.compat.environments import Environment
from export_scripts.compat.runtimes import ArtifactFormat, Runtime
from export_scripts.compat.table import CompatRow
from hybrid_core.processing import FloatArray
from hybrid_core.version_params import params_path, read_params, repository_models, repository_versions

RUN_TIMEOUT_S = 600.0
"""One runtime's run over every artifact (its import and a few hundred windows each)."""
REFERENCE_RUNTIME: dict[ArtifactFormat, str] = {"torchscript": "torch", "onnx": "onnxruntime"}


@dataclass(frozen=True)
class ArtifactCase:
    """One artifact of the repository, its held-out windows and its reference outputs."""

    name: str
    """``model/version/file``."""
    path: Path
    format: ArtifactFormat
    windows: FloatArray
    reference: dict[str, FloatArray]
    """Outputs in the main environment: on all windows (key "") and on the first alone."""
    reference_error: str | None = None
    """Why the main environment could not run it (then nothing is compared)."""


def collect_cases(repository: Path) -> list[ArtifactCase]:
    """Every version's artifact with the held-out (test split) windows of its own window length."""
    from export_scripts.data import chronological_split, load_co2, make_windows

    series = load_co2()
    split = chronological_split(len(series.values))
    cases = []
    for model in repository_models(repository):
        for version in repository_versions(repository, model):
            params = read_params(params_path(repository, model, version))
            path = repository / model / version / params.artifact.file
            origins = split.origins("test", params.window)
            windows = make_windows(series.values, origins, params.window, params.normalization.scale)
            name = f"{model}/{version}/{params.artifact.file}"
            runtime = REFERENCE_RUNTIME[params.artifact.format]
            try:
                reference = runner.run_artifact(runtime, str(path), windows.inputs)
            except Exception as exc:  # the artifact's verdict, shown in the table with the others
                error = f"the main env's {runtime} cannot run it: {type(exc).__name__}: {exc}"[:2000]
                cases.append(ArtifactCase(name, path, params.artifact.format, windows.inputs, {}, error))
                continue
            cases.append(ArtifactCase(name, path, params.artifact.format, windows.inputs, reference))
    return cases


def reference_versions() -> dict[str, str]:
    """The main environment's runtimes that compute the reference outputs."""
    return {name: runner.runtime_version(name) for name in sorted(set(REFERENCE_RUNTIME.values()))}


def check_runtime(environment: Environment, cases: list[ArtifactCase]) -> list[CompatRow]:
    """One row per artifact the runtime serves: its max |diff| to the reference, or its error."""
    runtime = environment.runtime
    served = [case for case in cases if case.format == runtime.runs]
    rows = [
        CompatRow(case.name, runtime.name, runtime.version, None, case.reference_error)
        for case in served
        if case.reference_error is not None
    ]
    mine = [case for case in served if case.reference_error is None]
    if not mine:
        return rows
    with tempfile.TemporaryDirectory(prefix="hybrid-compat-") as scratch:
        work = Path(scratch)
        keys = {case.name: f"a{index}" for index, case in enumerate(mine)}
        np.savez(work / "inputs.npz", **{keys[case.name]: case.windows for case in mine})
        request = {
            "runtime": runtime.name,
            "inputs": str(work / "inputs.npz"),
            "artifacts": [{"key": keys[case.name], "path": str(case.path)} for case in mine],
        }
        (work / "request.json").write_text(json.dumps(request))
        failure = _run_runner(environment, work)
        if failure is not None:
            failed = [CompatRow(case.name, runtime.name, runtime.version, None, failure) for case in mine]
            return rows + failed
        result = json.loads((work / runner.RESULT_FILE).read_text())
        with np.load(work / runner.OUTPUTS_FILE) as outputs:
            produced = {key: np.asarray(outputs[key]) for key in outputs.files}
    for case in mine:
        key = keys[case.name]
        error = result["errors"].get(key)
        diff = None if error else max_abs_diff(case.reference, produced, key)
        rows.append(CompatRow(case.name, runtime.name, result["version"], diff, error))
    return rows


def _run_runner(environment: Environment, work: Path) -> str | None:
    argv = [str(environment.python), "-I", runner.__file__, str(work / "request.json"), str(work)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"the runner ran over {RUN_TIMEOUT_S:.0f} s"
    if done.returncode != 0:
        return f"the runner failed: {done.stderr.strip()[-1000:]}"
    return None


def max_abs_diff(reference: dict[str, FloatArray], produced: dict[str, FloatArray], key: str) -> float:
    """Largest |produced - reference| over every output of ``key`` (its suffixes in ``reference``).

    A missing output or a wrong shape is an infinite difference; NaN propagates, so it never passes.
    """
    diffs = []
    for suffix, expected in reference.items():
        got = produced.get(key + suffix)
        if got is None or got.shape != expected.shape:
            return float("inf")
        diffs.append(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    return float(np.max(diffs))


def runtimes_for(cases: list[ArtifactCase], runtimes: tuple[Runtime, ...]) -> tuple[Runtime, ...]:
    """The runtimes some artifact needs (no environment is built for a format nobody uses)."""
    formats = {case.format for case in cases}
    return tuple(runtime for runtime in runtimes if runtime.runs in formats)
