"""``hybrid-inference check-compat``: the repository's artifacts under the production image's runtimes.

Modules: ``runtimes`` (what each pinned Triton image ships, and the PyPI environments standing
in for it), ``environments`` (build them once under the state dir), ``runner`` (the script run
inside an environment), ``check`` (held-out windows, reference outputs, comparison), ``table``
(verdicts and the printed table), ``cli``.
"""
