"""Realistic request series (weekly Mauna Loa CO2); the helper lives in ``benchmarks.data``."""

from benchmarks.data import co2_series, request_series

__all__ = ["co2_series", "request_series"]
