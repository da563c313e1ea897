"""Code shared by the API, the workers, the exporters and the local stack.

Only what two or more roles truly share lives here: settings, the error tree,
request/result schemas, the per-version parameters file and the pure pre- and
post-processing functions.
"""
