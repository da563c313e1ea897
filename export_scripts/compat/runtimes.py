"""What the pinned NGC Triton image ships, and the PyPI environments that stand in for it on CPU.

Triton's ``pytorch_libtorch`` backend links the libtorch of the NGC PyTorch container of the same
month, and its ``onnxruntime_onnx`` backend is built from the ONNX Runtime release named in
``build.py``'s ``TRITON_VERSION_MAP`` of that Triton tag. Neither is a PyPI wheel, so each is
stood in for by the nearest PyPI release of the same minor version, run on CPU: what can break
(the TorchScript reader and operator set, the ONNX IR and opsets a runtime accepts) is the same
in the CPU and CUDA code paths of one release.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

ArtifactFormat = Literal["torchscript", "onnx"]

NUMPY = "numpy==1.26.4"
"""Both environments read and write the arrays of the check with numpy; it is the main env's pin."""


@dataclass(frozen=True)
class Runtime:
    """One runtime, installed from PyPI into a small virtual environment of its own."""

    name: str
    version: str
    runs: ArtifactFormat
    requirements: tuple[str, ...]
    """Installed with ``pip --no-deps``: every package is named and pinned here, nothing else comes."""

    @property
    def label(self) -> str:
        """``name version``, as the table shows it."""
        return f"{self.name} {self.version}"

    @property
    def key(self) -> str:
        """Folder name of its environment: changes whenever a requirement does."""
        digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:10]
        return f"{self.name}-{self.version}-{digest}"


# PyPI's torch 2.5.1 for Linux x86_64 is the CUDA 12.4 build (there is no CPU wheel on PyPI, and
# download.pytorch.org is not reachable here). `pip install torch==2.5.1` pulls 12 nvidia-* wheels
# and triton: 5.2 GB. Without them `import torch` fails, because libtorch_cpu.so, libtorch_cuda.so
# and libtorch_python.so link these CUDA libraries (readelf NEEDED). So only the libraries they
# link are installed, with --no-deps: cusolver, nvrtc, nvtx (loaded lazily, never on CPU) and
# triton (torch.compile only) are left out, 4.4 GB. torch then imports and runs on CPU.
TORCH_2_5_1 = Runtime(
    name="torch",
    version="2.5.1",
    runs="torchscript",
    requirements=(
        "torch==2.5.1",
        "nvidia-cuda-runtime-cu12==12.4.127",
        "nvidia-cuda-cupti-cu12==12.4.127",
        "nvidia-cublas-cu12==12.4.5.8",
        "nvidia-cudnn-cu12==9.1.0.70",
        "nvidia-cufft-cu12==11.2.1.3",
        "nvidia-curand-cu12==10.3.5.147",
        "nvidia-cusparse-cu12==12.3.1.170",
        "nvidia-nvjitlink-cu12==12.4.127",
        "nvidia-nccl-cu12==2.21.5",
        "filelock==3.16.1",
        "typing-extensions==4.12.2",
        "sympy==1.13.1",
        "mpmath==1.3.0",
        "networkx==3.4.2",
        "jinja2==3.1.4",
        "MarkupSafe==3.0.2",
        "fsspec==2024.10.0",
        NUMPY,
    ),
)

# onnxruntime's declared dependencies (coloredlogs, flatbuffers, packaging, protobuf, sympy) serve
# its tools, not InferenceSession: with numpy alone it imports and runs (144 MB).
ONNXRUNTIME_1_19_2 = Runtime(
    name="onnxruntime",
    version="1.19.2",
    runs="onnx",
    requirements=("onnxruntime==1.19.2", NUMPY),
)


@dataclass(frozen=True)
class TritonImage:
    """One NGC Triton image: what it ships, and the environments that stand in for it."""

    tag: str
    triton_version: str
    libtorch: str
    """The libtorch the image's PyTorch backend links (the NGC PyTorch container's build)."""
    onnxruntime: str
    runtimes: tuple[Runtime, ...]


TRITON_IMAGES: dict[str, TritonImage] = {
    # Triton 2.51.0: build.py (tag v2.51.0) names ORT 1.19.2 and the upstream container 24.10, whose
    # PyTorch is 2.5.0a0+e000cf0ad9 (a pre-2.5.0 snapshot; PyPI 2.5.1 is that minor's release).
    "nvcr.io/nvidia/tritonserver:24.10-py3": TritonImage(
        tag="nvcr.io/nvidia/tritonserver:24.10-py3",
        triton_version="2.51.0",
        libtorch="2.5.0a0+e000cf0ad9 (NGC PyTorch 24.10)",
        onnxruntime="1.19.2",
        runtimes=(TORCH_2_5_1, ONNXRUNTIME_1_19_2),
    ),
}
