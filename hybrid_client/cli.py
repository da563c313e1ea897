"""``hybrid-inference backtest --model M [--version V] --input file.csv|.parquet``: rolling-origin accuracy
of served versions on the user's own series (columns ``id``, ``ds``, ``y``), through the live API.

Every version (each READY one unless ``--version`` names some) and the ``moving_average`` baseline run
the same folds of the same series (those long enough for the largest window), all folds of all series
batched into as few requests as the client's limits allow. Prints MAE, MASE and coverage per level as a
Markdown table, and writes a PNG of a few series with their forecasts and bands.

It lives with the client it drives, registered by ``hybrid_cli.main`` like every role's commands, so
the service images (which carry ``hybrid_cli`` but not this package) keep importing only what they run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hybrid_client._protocol import DEFAULT_BASE_URL
from hybrid_client._sync import HybridClient
from hybrid_client.evaluation import Backtest
from hybrid_client.frames import label

BASELINE = "moving_average"
PLOT_CONTEXT_STEPS = 60
"""Points of history shown before the first origin in the plot."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("backtest", help="rolling-origin accuracy of served versions on your data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", action="append", help="a version to test (repeatable; default: READY)")
    parser.add_argument("--input", required=True, type=Path, help="CSV or Parquet with columns id, ds, y")
    parser.add_argument("--horizon", type=int, help="steps per fold (default: the model's horizon)")
    parser.add_argument("--folds", type=int, default=3, help="forecast origins per series (default 3)")
    parser.add_argument("--step", type=int, help="steps between origins (default: the horizon)")
    parser.add_argument("--levels", default="80,95", help="interval levels, comma-separated")
    parser.add_argument("--freq", help="pandas frequency alias (default: inferred)")
    parser.add_argument("--baseline", default=BASELINE, help="baseline model, or 'none'")
    parser.add_argument("--plot", type=Path, default=Path("backtest.png"), help="PNG to write")
    parser.add_argument("--plot-series", type=int, default=4, help="series in the PNG")
    parser.add_argument("--api", default=DEFAULT_BASE_URL, help="API base URL")
    parser.add_argument("--token", default=os.environ.get("HYBRID_API_KEY"), help="API key ($HYBRID_API_KEY)")
    parser.set_defaults(handler=run)


def read_input(path: Path) -> pd.DataFrame:
    """The long frame of ``path`` (``id`` or ``unique_id``, ``ds``, ``y``)."""
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise SystemExit(
                f"reading {path.name} needs a Parquet engine: pip install pyarrow (or use CSV)"
            ) from exc
    else:
        frame = pd.read_csv(path)
    frame = frame.rename(columns={"id": "unique_id"})
    missing = {"unique_id", "ds", "y"} - set(frame.columns)
    if missing:
        raise SystemExit(f"{path} lacks column(s) {sorted(missing)}; expected id, ds, y")
    if not pd.api.types.is_integer_dtype(frame["ds"]):
        frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def table(results: Sequence[Backtest], levels: Sequence[float]) -> str:
    """The results as a Markdown table: one row per model version."""
    keys = [label(level) for level in levels]
    head = ["model", "version", "series", "points", "MAE", "MASE", *(f"coverage {k}%" for k in keys)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        s = result.scores
        mase = f"{s.mase:.3f}" if s.mase is not None else "n/a"
        cover = [f"{s.coverage[k]:.2f}" if k in s.coverage else "n/a" for k in keys]
        cells = [
            result.model,
            str(result.version),
            str(s.series),
            str(s.points),
            f"{s.mae:.4g}",
            mase,
            *cover,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: Sequence[Backtest], history: pd.DataFrame, path: Path, count: int) -> None:
    """A PNG of the first ``count`` series: actuals, each version's fold forecasts and widest band."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit("the backtest plot needs matplotlib: pip install matplotlib") from exc
    ids = list(results[0].forecasts["unique_id"].drop_duplicates())[:count]
    fig, axes = plt.subplots(len(ids), 1, figsize=(10, 2.6 * len(ids)), squeeze=False)
    for ax, uid in zip(axes[:, 0], ids, strict=True):
        first = results[0].forecasts
        cutoff = first.loc[first["unique_id"] == uid, "cutoff"].min()
        actual = history[history["unique_id"] == uid].sort_values("ds")
        before = int((actual["ds"] <= cutoff).sum())
        actual = actual.iloc[max(0, before - PLOT_CONTEXT_STEPS) :]
        ax.plot(actual["ds"], actual["y"], color="black", linewidth=1, label="actual")
        for color, result in zip(("tab:blue", "tab:orange", "tab:green", "tab:red"), results, strict=False):
            rows = result.forecasts[result.forecasts["unique_id"] == uid]
            name = f"{result.model} v{result.version}"
            bands = sorted((c for c in rows.columns if c.startswith("lo-")), key=lambda c: float(c[3:]))
            for _, fold in rows.groupby("cutoff"):
                ax.plot(fold["ds"], fold["mean"], color=color, linewidth=1.2, label=name)
                name = "_"
                if bands:
                    widest = bands[-1][3:]
                    ax.fill_between(
                        fold["ds"], fold[f"lo-{widest}"], fold[f"hi-{widest}"], color=color, alpha=0.15
                    )
        ax.set_title(str(uid), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    frame = read_input(args.input)
    levels = [float(v) for v in args.levels.split(",") if v]
    with HybridClient(args.api, api_key=args.token, timeout_s=300) as client:
        info = client.model(args.model)
        versions = args.version or info["ready_versions"]
        runs = [(args.model, v) for v in versions]
        infos = {args.model: info}
        if args.baseline != "none":
            infos[args.baseline] = client.model(args.baseline)
            runs.append((args.baseline, infos[args.baseline]["ready_versions"][-1]))
        # One window for all: every version and the baseline see the same folds of the same series.
        windows = {(m, v["version"]): int(v["window"]) for m, i in infos.items() for v in i["versions"]}
        input_size = max(windows[run] for run in runs)
        horizon = args.horizon or min(int(v["horizon"]) for v in info["versions"])
        results = [
            client.backtest(
                frame,
                model,
                version=version,
                horizon=horizon,
                folds=args.folds,
                step=args.step,
                levels=levels,
                freq=args.freq,
                input_size=input_size,
            )
            for model, version in runs
        ]
    first = results[0]
    print(
        f"{first.scores.series} series, {args.folds} folds of {horizon} steps, window {input_size}; "
        f"{len(first.skipped)} series too short skipped"
    )
    print(table(results, levels))
    plot(results, frame, args.plot, args.plot_series)
    print(f"plot: {args.plot}")
    return 0
