"""Test support: real services (PostgreSQL, Redis) and managed processes (worker, API)."""
