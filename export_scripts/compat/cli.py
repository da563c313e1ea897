"""``hybrid-inference check-compat``: every artifact against the pinned production image's runtimes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from export_scripts.compat.runtimes import TRITON_IMAGES, TritonImage
from export_scripts.compat.table import TOLERANCE
from hybrid_core.errors import HybridError
from hybrid_core.settings import PROJECT_ROOT, get_settings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENVIRONMENTS_FOLDER = "compat-envs"
"""Under the state dir: one virtual environment per runtime, kept between runs."""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``check-compat`` command."""
    parser = subparsers.add_parser(
        "check-compat",
        help="run every model.pt / model.onnx in the runtimes the production Triton image ships",
        description="Builds (once, under the state dir) a virtual environment per runtime of the "
        "Triton image pinned in docker-compose.yml, runs every artifact of the repository on its "
        "held-out windows there, and compares with the same artifact in this environment. "
        "Exits 1 when any artifact fails.",
    )
    parser.add_argument("--repository", type=Path, default=None, help="default: settings.model_repository")
    parser.add_argument(
        "--image", default=None, help=f"Triton image (default: the one in {COMPOSE_FILE.name})"
    )
    parser.add_argument(
        "--env-dir",
        type=Path,
        default=None,
        help=f"where the environments are kept (default: <state_dir>/{ENVIRONMENTS_FOLDER})",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="use only environments already built; fail otherwise"
    )
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest max |diff| that passes")
    parser.set_defaults(handler=run)


def compose_triton_image(compose_file: Path = COMPOSE_FILE) -> str:
    """The image of the ``triton`` service in the production compose file."""
    import yaml

    compose = yaml.safe_load(compose_file.read_text())
    return str(compose["services"]["triton"]["image"])


def run(args: argparse.Namespace) -> int:
    from export_scripts.compat.check import check_runtime, collect_cases, reference_versions, runtimes_for
    from export_scripts.compat.environments import ensure_environment
    from export_scripts.compat.table import exit_status, format_table

    settings = get_settings()
    repository: Path = args.repository or settings.model_repository
    env_dir: Path = args.env_dir or settings.state_dir / ENVIRONMENTS_FOLDER
    tag: str = args.image or compose_triton_image()
    image = TRITON_IMAGES.get(tag)
    if image is None:
        known = ", ".join(sorted(TRITON_IMAGES))
        print(f"error: no runtime matrix for {tag}; known images: {known}", file=sys.stderr)
        return 2
    print(_describe(image))
    started = time.perf_counter()
    cases = collect_cases(repository)
    references = ", ".join(f"{name} {version}" for name, version in reference_versions().items())
    windows = sum(len(case.windows) for case in cases)
    print(f"reference: this environment ({references}); {len(cases)} artifacts, {windows} held-out windows")
    rows = []
    try:
        for runtime in runtimes_for(cases, image.runtimes):
            environment = ensure_environment(env_dir, runtime, build=not args.no_build)
            if environment.built_s is not None:
                print(f"built {environment.python.parent.parent} in {environment.built_s:.0f} s")
            rows.extend(check_runtime(environment, cases))
    except HybridError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(format_table(rows, args.tolerance))
    status = exit_status(rows, args.tolerance)
    outcome = "every artifact passes" if status == 0 else "FAILED"
    print(f"{outcome} (tolerance {args.tolerance:.0e}) in {time.perf_counter() - started:.1f} s")
    return status


def _describe(image: TritonImage) -> str:
    runtimes = ", ".join(runtime.label for runtime in image.runtimes)
    return (
        f"{image.tag} (Triton {image.triton_version}): libtorch {image.libtorch}, "
        f"onnxruntime {image.onnxruntime}; checked with PyPI {runtimes} on CPU"
    )
