"""What a run records about where it ran: git state, Python, packages, OS and CPU.

Also the seeding of random number generators from the run seed, so that a
run can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["environment_snapshot", "git_state", "seed_everything", "node_seed"]


def _site_key() -> str:
    """Changes whenever a package is installed, upgraded or removed: the mtimes of the
    folders on ``sys.path`` (pip creates and deletes ``*.dist-info`` folders in them)."""
    parts = [sys.prefix, sys.version]
    for entry in sys.path:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            continue
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@cache
def environment_snapshot(cache_dir: Path | None = None) -> dict[str, Any]:
    """Python, platform, CPU and every installed distribution's version, with a digest.

    Listing distributions costs ~20 ms; with ``cache_dir`` the result is kept in a
    file named after :func:`_site_key`, so it is recomputed only after an install.
    """
    cached = cache_dir / f"environment-{_site_key()[:16]}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        try:
            return dict(json.loads(cached.read_text()))
        except ValueError:
            pass  # a torn write from a crash: recompute
    env = _snapshot()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(env))
        os.replace(tmp, cached)
    return env


def _snapshot() -> dict[str, Any]:
    from importlib.metadata import distributions

    packages: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower().replace("_", "-")] = dist.version
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": f"{platform.machine()} x{os.cpu_count()} {_cpu_model()}".strip(),
        "packages": dict(sorted(packages.items())),
    }
    env["digest"] = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()
    return env


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_state(folder: Path) -> dict[str, str | None]:
    """The commit of the repository holding ``folder`` and a digest of uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty_digest": None}
    try:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--no-ext-diff", "--binary"],
            cwd=folder,
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        diff = b""
    return {"commit": commit, "dirty_digest": hashlib.sha256(diff).hexdigest() if diff else None}


def node_seed(run_seed: int, node: str) -> int:
    """A seed per node derived from the run seed, so that parallel steps do not share streams."""
    h = hashlib.sha256(f"{run_seed}:{node}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


class _SeedNumpyOnImport:
    """A ``sys.meta_path`` finder that seeds NumPy the moment a step first imports it.

    Importing NumPy up front in every worker costs ~60 ms that most runs never
    need; this keeps "NumPy is seeded" true for steps that import it in their body.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "numpy":
            return None
        import importlib.util

        uninstall_numpy_hook()
        spec = importlib.util.find_spec("numpy")
        if spec is None or spec.loader is None:
            return spec
        run_module, seed = spec.loader.exec_module, self.seed

        def exec_module(module: Any) -> None:
            run_module(module)
            module.random.seed(seed)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def uninstall_numpy_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SeedNumpyOnImport)]


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy (now, or when first imported) and loaded PyTorch/TensorFlow."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by subprocesses the step starts
    uninstall_numpy_hook()
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed)
    else:
        sys.meta_path.insert(0, _SeedNumpyOnImport(seed))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        tf.random.set_seed(seed)
