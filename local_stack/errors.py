"""Errors of the local stack, under the platform's one error base.

    HybridError
    └── LocalStackError          the local launcher could not do its job
        ├── RepositoryError      the canonical repository cannot be derived
        └── TritonStartError     tritonserver exited or was not ready in time (has the log tail)

Failures of Triton itself at serving time are the Triton client's to translate, not these.
"""

from __future__ import annotations

from hybrid_core.errors import HybridError


class LocalStackError(HybridError):
    code = "local_stack_error"


class RepositoryError(LocalStackError):
    code = "repository_error"


class TritonStartError(LocalStackError):
    code = "triton_start_error"

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- tritonserver log tail ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail
