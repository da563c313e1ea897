"""Canary rollout through repository versions: policy, assignment, Triton sync, report and guards."""
