"""The README stays true to the code: its first commands, and every setting it documents."""

from __future__ import annotations

import re

from hybrid_core.settings import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text()
MAKEFILE = (PROJECT_ROOT / "Makefile").read_text()


def test_readme_opens_with_up_and_test_when_newcomer_reads_it() -> None:
    commands = re.findall(r"^make (\w+)", README, flags=re.MULTILINE)[:2]
    assert commands == ["up", "test"]
    for target in commands:
        assert re.search(rf"^{target}:", MAKEFILE, flags=re.MULTILINE)


def test_readme_documents_every_setting_when_settings_change() -> None:
    documented = set(re.findall(r"HYBRID_[A-Z_]+", README))
    expected = [f"HYBRID_{field.upper()}" for field in Settings.model_fields]
    missing = [name for name in expected if name not in documented]
    assert not missing, f"README lacks {missing}"


def test_ci_runs_readme_test_command_when_ci_starts() -> None:
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
