"""A small version's parameters for tests that run the forecasting path without a repository."""

from __future__ import annotations

from hybrid_core.version_params import Artifact, Normalization, ResidualSpread, VersionParams


def tiny_params(*, model: str = "m", version: str = "3") -> VersionParams:
    """Window 4, horizon 3, scale 2: small enough to check forecasts by hand."""
    return VersionParams(
        model=model,
        version=version,
        kind="lstm",
        window=4,
        horizon=3,
        normalization=Normalization(scale=2.0),
        residuals=ResidualSpread(
            interval_level=0.9,
            lower_quantile=[-1.0, -1.0, -2.0],
            upper_quantile=[1.0, 1.5, 2.0],
            std=[1, 1, 1],
        ),
        artifact=Artifact(file="model.pt", format="torchscript", sha256="0" * 64),
    )
