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


@cache
def environment_snapshot() -> dict[str, Any]:
    """Python, platform, CPU and every installed distribution's version, with a digest."""
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


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy and, when they are loaded, PyTorch and TensorFlow."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by subprocesses the step starts
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        tf.random.set_seed(seed)
