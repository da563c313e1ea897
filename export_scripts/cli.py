"""``hybrid-inference export {lstm,moving-average,all}``: train, export, check, write a version."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from export_scripts.hyperparameters import TrainingConfig
from hybrid_core.errors import HybridError
from hybrid_core.settings import get_settings

if TYPE_CHECKING:
    from export_scripts.pipeline import ExportSummary

_DEFAULTS = TrainingConfig()


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``export`` command and its ``lstm``, ``moving-average`` and ``all`` sub-commands."""
    export = subparsers.add_parser("export", help="train and export models into the model repository")
    kinds = export.add_subparsers(dest="export_kind", required=True)

    lstm = kinds.add_parser("lstm", help="train an LSTM and write it as TorchScript (and ONNX)")
    lstm.add_argument("--model", default="lstm_timeseries", help="model folder name")
    lstm.add_argument("--window", type=int, default=_DEFAULTS.window, help="input weeks")
    lstm.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    lstm.add_argument("--epochs", type=int, default=_DEFAULTS.epochs)
    lstm.add_argument("--hidden", type=int, default=_DEFAULTS.hidden, help="LSTM units per layer")
    lstm.add_argument("--layers", type=int, default=_DEFAULTS.layers)
    lstm.add_argument("--lr", type=float, default=_DEFAULTS.lr)
    lstm.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    lstm.add_argument("--onnx-model", default=None, help="also write the same weights as this ONNX model")
    _add_common(lstm)
    lstm.set_defaults(handler=_run_lstm)

    average = kinds.add_parser("moving-average", help="write the moving-average baseline")
    average.add_argument("--model", default="moving_average", help="model folder name")
    average.add_argument("--k", type=int, default=None, help="weeks averaged (default: tuned on validation)")
    _add_common(average)
    average.set_defaults(handler=_run_moving_average)

    every = kinds.add_parser("all", help="regenerate every committed version deterministically")
    every.add_argument("--repository", type=Path, default=None, help="default: settings.model_repository")
    every.add_argument("--force", action="store_true", help="overwrite existing version folders")
    every.add_argument("--no-progress", action="store_true", help="no progress bar")
    every.set_defaults(handler=_run_all)

    grid = kinds.add_parser(
        "residuals",
        help="add the residual distribution (any level, long horizons) to versions exported without it",
    )
    grid.add_argument("--model", default=None, help="only this model (default: every model)")
    grid.add_argument("--version", default=None, help="only this version (default: every version)")
    grid.add_argument("--repository", type=Path, default=None, help="default: settings.model_repository")
    grid.add_argument("--force", action="store_true", help="recompute versions that have one")
    grid.set_defaults(handler=_run_residuals)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", type=int, default=None, help="version number (default: next free)")
    parser.add_argument("--repository", type=Path, default=None, help="default: settings.model_repository")
    parser.add_argument("--force", action="store_true", help="overwrite an existing version folder")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="add the version to config.pbtxt's version policy so Triton loads it at start "
        "(by default a new version of an existing model waits for a canary rollout)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _repository(args: argparse.Namespace) -> Path:
    repository: Path | None = args.repository
    return repository if repository is not None else get_settings().model_repository


def _run_lstm(args: argparse.Namespace) -> int:
    from export_scripts.pipeline import export_lstm, prepare_dataset

    config = TrainingConfig(
        window=args.window,
        seed=args.seed,
        epochs=args.epochs,
        hidden=args.hidden,
        layers=args.layers,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    return _report(
        lambda: export_lstm(
            prepare_dataset(),
            _repository(args),
            args.model,
            config,
            version=args.version,
            force=args.force,
            serve=args.serve,
            onnx_model=args.onnx_model,
            progress=not args.no_progress,
        )
    )


def _run_moving_average(args: argparse.Namespace) -> int:
    from export_scripts.pipeline import export_moving_average, prepare_dataset

    return _report(
        lambda: [
            export_moving_average(
                prepare_dataset(),
                _repository(args),
                args.model,
                k=args.k,
                version=args.version,
                force=args.force,
                serve=args.serve,
            )
        ]
    )


def _run_all(args: argparse.Namespace) -> int:
    from export_scripts.plan import export_all

    return _report(lambda: export_all(_repository(args), force=args.force, progress=not args.no_progress))


def _run_residuals(args: argparse.Namespace) -> int:
    from export_scripts.residual_grid import backfill_residuals
    from hybrid_core.version_params import repository_models, repository_versions

    repository = _repository(args)
    models = [args.model] if args.model else repository_models(repository)
    for model in models:
        versions = [args.version] if args.version else repository_versions(repository, model)
        for version in versions:
            added = backfill_residuals(repository, model, version, force=args.force)
            print(f"{model} version {version}: {'residual grid written' if added else 'has one; kept'}")
    return 0


def _report(run: Callable[[], list[ExportSummary]]) -> int:
    started = time.perf_counter()
    try:
        summaries = run()
    except HybridError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(format_summary(summaries))
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def format_summary(summaries: list[ExportSummary]) -> str:
    """The table printed after an export: one row per written version."""
    header = (
        f"{'model':<22} {'version':>7} {'window':>6} {'MAE ppm':>8} {'MASE':>6} "
        f"{'MA MAE ppm':>10} {'train s':>7}  folder"
    )
    rows = [
        f"{s.model:<22} {s.version:>7} {s.window:>6} {s.mae_ppm:>8.3f} {s.mase:>6.3f} "
        f"{s.baseline_mae_ppm:>10.3f} {s.training_s:>7.1f}  {s.folder}"
        for s in summaries
    ]
    return "\n".join(
        [header, *rows, "MASE: MAE / in-sample seasonal naive (52 weeks) MAE on the train split"]
    )
