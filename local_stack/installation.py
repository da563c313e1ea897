"""Locate the tritonserver binary of the nvidia-pytriton wheel and prepare what it needs to run.

The wheel ships ``pytriton/tritonserver/bin/tritonserver``, the Python backend
(``backends/python/libtriton_python.so``) and one backend stub per Python minor version
(``python_backend_stubs/3.X/triton_python_backend_stub``); its shared libraries live in the
auditwheel folder ``nvidia_pytriton.libs`` beside the package.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local_stack.derive import PYTHON_BASED_BACKEND, PYTHON_MODEL_TEMPLATE
from local_stack.errors import LocalStackError

STUB_NAME = "triton_python_backend_stub"


@dataclass(frozen=True)
class TritonInstallation:
    """Paths inside the installed pytriton wheel."""

    binary: Path
    libs_dir: Path
    python_backend_dir: Path
    stub: Path

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment tritonserver and its Python stubs run with."""
        env = dict(os.environ if base is None else base)
        # Copied out of the wheel, the backend and the stub lose their $ORIGIN rpath to the libs.
        library_dirs = [str(self.libs_dir)]
        # The stub links libpython3.X.so by soname; point it at the running interpreter's copy
        # when there is one, so model.py runs on the same patch release as the venv.
        libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
        if libdir and soname and (Path(libdir) / soname).is_file():
            library_dirs.append(libdir)
        if env.get("LD_LIBRARY_PATH"):
            library_dirs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(library_dirs)
        # The stub embeds the `python3` it finds first on PATH (its sys.prefix, its site-packages),
        # so model.py can import torch, onnxruntime and numpy only if the venv's bin comes first.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env


def find_installation() -> TritonInstallation:
    """The tritonserver of the installed ``nvidia-pytriton`` wheel, for this Python version."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise LocalStackError("nvidia-pytriton is not installed (pip install -e '.[local]')")
    package = Path(spec.origin).parent
    root = package / "tritonserver"
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    installation = TritonInstallation(
        binary=root / "bin" / "tritonserver",
        libs_dir=package.parent / "nvidia_pytriton.libs",
        python_backend_dir=root / "backends" / "python",
        stub=root / "python_backend_stubs" / python_version / STUB_NAME,
    )
    for path in (
        installation.binary,
        installation.libs_dir,
        installation.python_backend_dir,
        installation.stub,
    ):
        if not path.exists():
            raise LocalStackError(f"incomplete pytriton install: {path} is missing")
    return installation


def prepare_backend_directory(installation: TritonInstallation, target: Path) -> Path:
    """Fill ``target/python`` with the Python backend and the matching stub, and
    ``target/hybrid_python`` with the derived models' ``model.py``; return ``target``.

    The backend looks for the stub beside ``libtriton_python.so``, and the wheel keeps the stubs
    elsewhere, hence this private ``--backend-directory``.
    """
    python_dir = target / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    backend_files = sorted(p for p in installation.python_backend_dir.iterdir() if p.is_file())
    for source in [*backend_files, installation.stub]:
        _install_file(source, python_dir / source.name)
    # The Python-based backend of every derived model: its model.py, run by the Python backend.
    based_dir = target / PYTHON_BASED_BACKEND
    based_dir.mkdir(exist_ok=True)
    shutil.copyfile(PYTHON_MODEL_TEMPLATE, based_dir / "model.py")
    return target


def _install_file(source: Path, destination: Path) -> None:
    wanted = source.stat()
    if destination.is_file():
        present = destination.stat()
        if (present.st_size, int(present.st_mtime)) == (wanted.st_size, int(wanted.st_mtime)):
            return
    # Write a new inode and rename it in: truncating a .so that a running server has mapped
    # would crash that server.
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    os.close(handle)
    shutil.copy2(source, temporary)
    os.replace(temporary, destination)
