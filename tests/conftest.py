"""Shared fixtures: a fresh project folder per test, and helpers to write pipelines into it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.pipeline.loader import load_pipeline
from shipyard.pipeline.project import Project

REPO = Path(__file__).resolve().parents[1]
SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder (with a shipyard.yaml) as the working directory."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text("project:\n  name: proj\n")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("SHIPYARD_STORE_URL", raising=False)
    yield folder


@pytest.fixture
def project(project_dir: Path) -> Iterator[Project]:
    p = Project.discover(project_dir)
    yield p
    p.close()


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code))
    return path


def load(folder: Path, name: str, code: str, attr: str = "p") -> object:
    """Write ``code`` to ``folder/name`` and return its pipeline ``attr``."""
    path = write(folder, name, code)
    return load_pipeline(f"{path}:{attr}")


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``shipyard`` command."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("SHIPYARD_STORE_URL", None)
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def artifact_files(root: Path) -> set[str]:
    objects = root / ".shipyard" / "artifacts" / "objects"
    return {str(p.relative_to(objects)) for p in objects.rglob("*")} if objects.exists() else set()
