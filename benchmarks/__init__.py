"""Benchmarks of the serving paths: the seed's prefork architecture, the hybrid product path,
the API's synchronous path and raw Triton, with and without dynamic batching.

``hybrid-inference bench`` starts everything it measures itself (see ``benchmarks.cli``).
"""
