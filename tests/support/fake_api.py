"""An in-process fake of the API (httpx.MockTransport) and frames for hybrid_client's unit tests."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd

from hybrid_client import HybridClient
from hybrid_client._protocol import npz_arrays
from hybrid_client.frames import label

Handler = Callable[[httpx.Request], httpx.Response]


def weekly_frame(ids: tuple[str, ...] = ("a", "b"), points: int = 30) -> pd.DataFrame:
    stamps = pd.date_range("2001-01-06", periods=points, freq="W-SAT")
    return pd.concat(
        [
            pd.DataFrame({"unique_id": uid, "ds": stamps, "y": np.arange(points, dtype=float) + 10 * i})
            for i, uid in enumerate(ids)
        ],
        ignore_index=True,
    )


VERSION = {"version": "1", "window": 4, "horizon": 2, "interval_level": 0.9}
"""The one version of every model of the fake: forecasts past 2 steps are partly recursive."""


def fake_forecast(body: dict[str, Any]) -> dict[str, Any]:
    """What the API answers for ``body``: mean = last value, bands +-level/10, dated from start+freq."""
    horizon = body.get("horizon", 3)
    forecasts = []
    for series in body["series"]:
        last = [v for v in series["values"] if v is not None][-1]
        mean = [last] * horizon
        forecast: dict[str, Any] = {"id": series["id"], "mean": mean, "lower": mean, "upper": mean}
        if "start" in series:
            axis = pd.date_range(
                series["start"], periods=len(series["values"]) + horizon, freq=series["freq"]
            )
            forecast["timestamps"] = [s.isoformat() for s in axis[-horizon:]]
        if body.get("levels"):
            forecast["intervals"] = {
                label(lv): {"lower": [last - lv / 10] * horizon, "upper": [last + lv / 10] * horizon}
                for lv in body["levels"]
            }
        if body.get("quantiles"):
            forecast["quantiles"] = {label(q): [last + q] * horizon for q in body["quantiles"]}
        forecasts.append(forecast)
    return {
        "model": body["model"],
        "version": "1",
        "arm": "latest",
        "horizon": horizon,
        "interval_level": VERSION["interval_level"],
        "direct_steps": VERSION["horizon"] if horizon > VERSION["horizon"] else None,
        "forecasts": forecasts,
        "timings_s": {},
    }


def npz_of(view: dict[str, Any], *, labelled: bool = True) -> bytes:
    """What ``GET /v1/jobs/{id}/forecasts`` answers for a succeeded job's view (README's contract);
    without ``interval_level`` and ``direct_steps`` when not ``labelled``, as an API before them did."""
    forecasts = view["forecasts"]
    rows = {part: [f[part] for f in forecasts] for part in ("mean", "lower", "upper")}
    for key in forecasts[0].get("intervals") or {}:
        rows[f"lo-{key}"] = [f["intervals"][key]["lower"] for f in forecasts]
        rows[f"hi-{key}"] = [f["intervals"][key]["upper"] for f in forecasts]
    for key in forecasts[0].get("quantiles") or {}:
        rows[f"q-{key}"] = [f["quantiles"][key] for f in forecasts]
    arrays: dict[str, Any] = {name: np.array(values, dtype=np.float64) for name, values in rows.items()}
    if any("id" in f for f in forecasts):
        arrays["id"] = np.array([f.get("id") or "" for f in forecasts], dtype=str)
    if any("timestamps" in f for f in forecasts):
        blank = [""] * len(forecasts[0]["mean"])
        arrays["timestamps"] = np.array([f.get("timestamps") or blank for f in forecasts], dtype=str)
    if labelled:
        arrays["interval_level"] = np.array(view["interval_level"])
        if view.get("direct_steps") is not None:
            arrays["direct_steps"] = np.array(view["direct_steps"])
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def array_job_body(request: httpx.Request) -> dict[str, Any]:
    """The JSON body that a ``POST /v1/jobs/arrays`` request stands for (as the API reads it)."""
    arrays = npz_arrays(request.content)
    values = arrays["values"]
    lengths = arrays.get("lengths", np.full(len(values), values.shape[1]))
    series = []
    for index, (row, length) in enumerate(zip(values, lengths.tolist(), strict=True)):
        item: dict[str, Any] = {"id": str(arrays["id"][index]) if "id" in arrays else None}
        item["values"] = [None if np.isnan(v) else float(v) for v in row[:length]]
        if "start" in arrays:
            item |= {"start": str(arrays["start"][index]), "freq": request.url.params["freq"]}
        series.append(item)
    params = request.url.params
    body: dict[str, Any] = {"model": params["model"], "series": series}
    for key in ("version", "routing_key"):
        if key in params:
            body[key] = params[key]
    if "horizon" in params:
        body["horizon"] = int(params["horizon"])
    for key in ("levels", "quantiles"):
        if key in params:
            body[key] = [float(v) for v in params.get_list(key)]
    return body


def as_float32(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each value rounded to float32, as the API stores a job's values."""
    series = [
        s | {"values": [None if v is None else float(np.float32(v)) for v in s["values"]]}
        for s in body["series"]
    ]
    return body | {"series": series}


class FakeApi:
    """Records every request; answers forecasts, jobs and models like the API's contract."""

    def __init__(self, *, running_polls: int = 0, labelled: bool = True, array_jobs: bool = True) -> None:
        self.requests: list[httpx.Request] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.versions = [VERSION]
        self.running_polls = running_polls
        """How many reads of each job (view or arrays) find it running before it has finished."""
        self.labelled = labelled
        """Whether a job's arrays say ``interval_level`` and ``direct_steps`` (False: an older API)."""
        self.array_jobs = array_jobs
        """Whether ``POST /v1/jobs/arrays`` exists (False: an older API, which answers 405)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/forecasts"):
            return self.forecasts(path.split("/")[3])
        if path.endswith("/forecast"):
            return httpx.Response(200, json=fake_forecast(json.loads(request.content)))
        if path in ("/v1/jobs", "/v1/jobs/arrays") and request.method == "POST":
            if path.endswith("/arrays") and not self.array_jobs:
                error = {"code": "method_not_allowed", "message": "Method Not Allowed"}
                return httpx.Response(405, json={"error": error})
            job_id = f"job{len(self.jobs)}"
            answer = fake_forecast(as_float32(self.body(request)))
            self.jobs[job_id] = {**answer, "job_id": job_id, "status": "succeeded"}
            return httpx.Response(
                202, json={"job_id": job_id, "status": "queued", "version": "1", "arm": "latest"}
            )
        if path.startswith("/v1/jobs/"):
            job_id = path.rsplit("/", 1)[1]
            return httpx.Response(
                200, json=self.status(job_id) if self.running(job_id) else self.jobs[job_id]
            )
        if path.startswith("/v1/models/"):
            return httpx.Response(200, json={"versions": self.versions})
        if path == "/v1/actuals":
            body = json.loads(request.content)
            return httpx.Response(202, json={"points": sum(len(s["values"]) for s in body["series"])})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})

    def running(self, job_id: str) -> bool:
        reads = sum(r.url.path.startswith(f"/v1/jobs/{job_id}") for r in self.requests)
        return reads <= self.running_polls

    def status(self, job_id: str) -> dict[str, Any]:
        """The view of a running job: no forecasts yet."""
        view = self.jobs[job_id]
        return {key: view[key] for key in ("job_id", "model", "version", "arm")} | {"status": "running"}

    def forecasts(self, job_id: str) -> httpx.Response:
        if self.running(job_id):
            return httpx.Response(202, headers={"Retry-After": "1"}, json=self.status(job_id))
        view = self.jobs[job_id]
        if view["status"] != "succeeded":
            error = {"code": "job_has_no_forecasts", "message": f"job {view['status']}", "field": "job_id"}
            return httpx.Response(409, json={"error": error})
        content = npz_of(view, labelled=self.labelled)
        return httpx.Response(200, headers={"Content-Type": "application/x-npz"}, content=content)

    @staticmethod
    def body(request: httpx.Request) -> dict[str, Any]:
        """A POST's body as JSON; an array job's as the JSON body it stands for."""
        if request.url.path.endswith("/arrays"):
            return array_job_body(request)
        body: dict[str, Any] = json.loads(request.content)
        return body

    def bodies(self) -> list[dict[str, Any]]:
        return [self.body(r) for r in self.requests if r.method == "POST" and r.content]

    def posts(self) -> list[str]:
        return [r.url.path for r in self.requests if r.method == "POST"]

    def reads(self) -> list[str]:
        return [r.url.path for r in self.requests if r.method == "GET"]


def client_of(handler: Handler, **kwargs: Any) -> HybridClient:
    return HybridClient("http://api", transport=httpx.MockTransport(handler), **kwargs)
