"""The ``hybrid-inference`` command line: one entry point, one sub-command per role."""
