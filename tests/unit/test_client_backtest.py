"""Rolling-origin backtests of hybrid_client: folds, MASE scale, coverage, and the batched requests."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from hybrid_client import HybridClient, RequestLimits
from hybrid_client.evaluation import make_folds, score, season_length, seasonal_naive_scale
from hybrid_core.time_axis import season_length as platform_season_length
from tests.support.fake_api import FakeApi, weekly_frame


@pytest.mark.parametrize("freq", ["h", "D", "B", "W-SAT", "W-SUN", "MS", "ME", "QS-OCT", "YS", "15min", "2W"])
def test_season_length_matches_the_platforms_when_freq_is_any_alias(freq: str) -> None:
    assert season_length(freq) == platform_season_length(freq)


def test_seasonal_naive_scale_uses_lag_one_when_history_is_shorter_than_two_seasons() -> None:
    values = np.array([1.0, 3.0, 6.0, 10.0])
    assert seasonal_naive_scale(values, season=52) == pytest.approx((2 + 3 + 4) / 3)
    assert seasonal_naive_scale(np.array([1.0, 2, 1, 2, 5, 2]), season=2) == pytest.approx(1.0)


def test_make_folds_cuts_rolling_origins_and_skips_short_series_when_folds_overlap_history() -> None:
    frame = pd.concat([weekly_frame(("long",), 20), weekly_frame(("short",), 8)], ignore_index=True)
    folds = make_folds(frame, horizon=3, folds=2, step=2, input_size=5, min_size=5, season=1)
    assert folds.skipped == ["short"]
    # cuts at 20 - 3 - 2 = 15 and 17: fold 0 sees rows 10..14 and is scored on 15..17, fold 1 on 17..19
    assert folds.histories.groupby("unique_id")["y"].apply(list).to_dict() == {
        "0": [10.0, 11.0, 12.0, 13.0, 14.0],
        "1": [12.0, 13.0, 14.0, 15.0, 16.0],
    }
    assert list(folds.targets["y"]) == [15.0, 16.0, 17.0, 17.0, 18.0, 19.0]
    assert list(folds.targets["cutoff"]) == [frame.loc[14, "ds"]] * 3 + [frame.loc[16, "ds"]] * 3
    assert set(folds.targets["unique_id"]) == {"long"}
    assert folds.scales["long"] == pytest.approx(1.0)  # y rises by one a week


def test_score_gives_mae_mase_and_coverage_when_bands_hold_some_points() -> None:
    cv = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b"],
            "y": [1.0, 2.0, 10.0, 14.0],
            "mean": [1.0, 4.0, 12.0, 14.0],
            "lo-80": [0.0, 3.0, 11.0, 13.0],
            "hi-80": [2.0, 5.0, 13.0, 15.0],
        }
    )
    scores = score(cv, {"a": 2.0, "b": 1.0}, [80])
    assert scores.mae == pytest.approx(1.0) and scores.points == 4 and scores.series == 2
    assert scores.mase == pytest.approx((1.0 / 2 + 1.0 / 1) / 2)
    assert scores.coverage == {"80": 0.5}


def test_backtest_sends_every_fold_in_batched_requests_and_scores_them_when_run() -> None:
    api = FakeApi()
    frame = weekly_frame(("a", "b", "c"), 30)
    client = HybridClient(
        "http://api", transport=httpx.MockTransport(api), limits=RequestLimits(max_series=4)
    )
    with client:
        result = client.backtest(frame, "m", horizon=3, folds=2, levels=[80])
    bodies = api.bodies()
    assert [len(b["series"]) for b in bodies] == [4, 2]  # 3 series x 2 folds, 4 per request
    assert all(len(s["values"]) == 4 for b in bodies for s in b["series"])  # trimmed to the window
    cv = result.forecasts
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "y", "mean", "lo-80", "hi-80"]
    assert len(cv) == 3 * 2 * 3
    assert (cv["ds"] > cv["cutoff"]).all()
    # the fake forecasts the last value: errors 1, 2, 3 on a series rising by one a week
    assert result.scores.mae == pytest.approx(2.0) and result.scores.mase == pytest.approx(2.0)
    assert result.scores.coverage == {"80": 1.0}  # bands of +-8


def test_async_backtest_scores_like_the_sync_one_when_given_the_same_frame() -> None:
    import asyncio

    from hybrid_client import AsyncHybridClient

    frame = weekly_frame(("a", "b"), 30)

    async def run() -> float:
        async with AsyncHybridClient("http://api", transport=httpx.MockTransport(FakeApi())) as client:
            result = await client.backtest(frame, "m", horizon=3, folds=2, levels=[80])
        return result.scores.mae

    with HybridClient("http://api", transport=httpx.MockTransport(FakeApi())) as client:
        expected = client.backtest(frame, "m", horizon=3, folds=2, levels=[80]).scores.mae
    assert asyncio.run(run()) == pytest.approx(expected)


def test_client_package_imports_no_platform_package_when_users_install_it() -> None:
    import ast
    from pathlib import Path

    import hybrid_client

    root = Path(hybrid_client.__file__).parent
    platform = {"hybrid_core", "hybrid_cli", "operation_server", "worker", "job_store", "triton_client"}
    platform |= {"event_bus", "local_stack", "export_scripts", "benchmarks"}
    imported = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
    assert not imported & platform
