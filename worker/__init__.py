"""Celery thin-client workers: preprocess, infer through ``triton_client``, postprocess, persist, publish.

The worker never imports torch: it needs numpy, tritonclient and the service libraries only.
"""
