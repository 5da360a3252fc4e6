from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.pipeline import environment as env_mod
from shipyard.pipeline.environment import _site_key, environment_snapshot, git_state, node_seed


def test_snapshot_lists_packages_and_is_cached_until_an_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    snap = env_mod._snapshot()
    assert snap["packages"]["numpy"] and snap["python"].startswith("3.")
    before = _site_key()
    (site / "newpkg-1.0.dist-info").mkdir()  # what pip does on install
    assert _site_key() != before
    cache = tmp_path / "cache"
    environment_snapshot.cache_clear()
    first = environment_snapshot(cache)
    files = list(cache.glob("environment-*.json"))
    assert len(files) == 1 and first["digest"] == snap["digest"]
    environment_snapshot.cache_clear()
    assert environment_snapshot(cache) == first  # read back from the file


def test_git_state_records_commit_and_uncommitted_changes(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    git("init", "-q")
    (tmp_path / "p.py").write_text("x = 1\n")
    git("add", "p.py")
    git("commit", "-qm", "first")
    clean = git_state(tmp_path)
    assert clean["commit"] == git("rev-parse", "HEAD") and clean["dirty_digest"] is None
    (tmp_path / "p.py").write_text("x = 2\n")
    dirty = git_state(tmp_path)
    assert dirty["commit"] == clean["commit"] and len(dirty["dirty_digest"] or "") == 64
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / ".git").write_text("not a repository")  # git stops here and fails: no crash
    assert git_state(outside) == {"commit": None, "dirty_digest": None}


def test_node_seeds_differ_per_node_and_per_run_seed() -> None:
    assert node_seed(0, "a") == node_seed(0, "a")
    assert len({node_seed(0, "a"), node_seed(0, "b"), node_seed(1, "a")}) == 3
