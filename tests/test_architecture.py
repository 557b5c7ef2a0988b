"""The layout as documented is the layout on disk, and the import rules hold (import-linter contracts)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "conformance"
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text()
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _entries(directory: Path) -> set[str]:
    """The modules (`name.py`) and packages (`name/`) directly inside a directory, as the docs write them."""
    packages = {p.name + "/" for p in directory.iterdir() if (p / "__init__.py").is_file()}
    return packages | {p.name for p in directory.glob("*.py") if p.name != "__init__.py"}


def _section(text: str, heading: str) -> str:
    """The body of one `## heading` section."""
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _code_block(text: str) -> list[str]:
    """The lines of the first fenced code block."""
    return text.split("```", 2)[1].split("\n")[1:]


def _readme_layout() -> dict[str, set[str]]:
    """README's layout block: each top-level entry with the entries indented two spaces under it."""
    layout: dict[str, set[str]] = {}
    current = ""
    for line in _code_block(_section(README, "Development")):
        if re.match(r"^\S", line):
            current = line.split()[0]
            layout[current] = set()
        elif re.match(r"^  \S", line):  # deeper indentation continues a description
            layout[current].add(line.split()[0])
    return layout


def _architecture_bullets() -> dict[str, str]:
    """ARCHITECTURE.md's module list: each bullet's leading name with the bullet's whole text."""
    bullets: dict[str, str] = {}
    current = ""
    for line in _section(ARCHITECTURE, "Packages and modules").splitlines():
        match = re.match(r"^- `([^`]+)`", line)
        if match:
            current = match.group(1)
            bullets[current] = line
        elif line.startswith("  ") and current:
            bullets[current] += " " + line.strip()
    return bullets


def _layers_contract() -> dict[str, object]:
    return next(c for c in CONTRACTS if c["type"] == "layers")


def test_readme_layout_names_every_module_and_package_of_conformance_and_nothing_else() -> None:
    assert _readme_layout()["conformance/"] == _entries(PACKAGE)


def test_readme_layout_top_level_entries_exist() -> None:
    missing = [entry for entry in _readme_layout() if not (ROOT / entry).exists()]
    assert missing == []


def test_architecture_names_every_module_and_package_of_conformance_and_nothing_else() -> None:
    assert set(_architecture_bullets()) == _entries(PACKAGE)


def test_architecture_names_every_module_of_each_package_and_nothing_else() -> None:
    for name, text in _architecture_bullets().items():
        if name.endswith("/"):
            named = set(re.findall(r"`(\w+\.py)`", text))
            assert named == _entries(PACKAGE / name), name


def test_architecture_layers_are_the_import_linter_contract() -> None:
    block = [line for line in _code_block(_section(ARCHITECTURE, "What may import what")) if line.strip()]
    assert block == _layers_contract()["layers"]


def test_architecture_names_every_module_the_emulator_must_not_import() -> None:
    forbidden = next(c for c in CONTRACTS if c["type"] == "forbidden")
    rules = _section(ARCHITECTURE, "What may import what")
    assert forbidden["source_modules"] == ["conformance.emulator"]
    assert [m for m in forbidden["forbidden_modules"] if f"`{m.removeprefix('conformance.')}`" not in rules] == []
    assert forbidden["ignore_imports"] == ["conformance.emulator.** -> conformance.targets.sharedkey"]
    assert "`targets/sharedkey.py`" in rules


def test_layers_contract_is_exhaustive_over_the_package() -> None:
    contract = _layers_contract()
    assert contract["containers"] == ["conformance"] and contract["exhaustive"] is True


def test_import_linter_contracts_pass() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"  # installed by the test extra
    done = subprocess.run([str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
