"""The runtime matrix check-compat uses: it covers the pinned image, and its environments are pinned."""

from __future__ import annotations

import re
from dataclasses import replace

from export_scripts.compat.cli import compose_triton_image
from export_scripts.compat.runtimes import TORCH_2_5_1, TRITON_IMAGES

PINNED = re.compile(r"^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+]*$")


def test_triton_images_cover_compose_image_when_compose_pins_triton() -> None:
    image = TRITON_IMAGES[compose_triton_image()]
    assert {runtime.runs for runtime in image.runtimes} == {"torchscript", "onnx"}


def test_runtime_requirements_are_exact_pins_when_installed_without_deps() -> None:
    for image in TRITON_IMAGES.values():
        for runtime in image.runtimes:
            assert all(PINNED.match(requirement) for requirement in runtime.requirements), runtime
            assert f"{runtime.name}=={runtime.version}" in runtime.requirements


def test_runtime_key_changes_when_a_requirement_changes() -> None:
    changed = replace(TORCH_2_5_1, requirements=(*TORCH_2_5_1.requirements[:-1], "numpy==2.0.0"))
    assert changed.key != TORCH_2_5_1.key
    assert changed.key.startswith("torch-2.5.1-")
