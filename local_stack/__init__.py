"""The local stack: the canonical model repository served by the tritonserver of the
nvidia-pytriton wheel (Python backend, CPU), behind ``hybrid-inference triton`` / ``up``.

    derive.py          canonical (GPU) repository -> Python-backend twin under state_dir
    python_model.py    the model.py of the hybrid_python backend (TorchScript or ONNX on CPU)
    installation.py    where the wheel keeps tritonserver, its libs, backend and stubs
    triton_server.py   LocalTritonServer: start (gated on readiness), stop, restart
    stack.py           LocalStack: what ``up`` runs
    testing.py         helpers for tests (canonical configs, a running server on free ports)
"""

from local_stack.derive import DerivedModel, derive_python_config, derive_repository, derived_repository_dir
from local_stack.errors import LocalStackError, RepositoryError, TritonStartError
from local_stack.installation import TritonInstallation, find_installation
from local_stack.stack import LocalStack
from local_stack.triton_server import LocalTritonServer, TritonPorts, find_free_port

__all__ = [
    "DerivedModel",
    "LocalStack",
    "LocalStackError",
    "LocalTritonServer",
    "RepositoryError",
    "TritonInstallation",
    "TritonPorts",
    "TritonStartError",
    "derive_python_config",
    "derive_repository",
    "derived_repository_dir",
    "find_free_port",
    "find_installation",
]
