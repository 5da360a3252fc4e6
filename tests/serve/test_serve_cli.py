"""``shipyard serve``: what it prints and binds, what it refuses, and what a worker imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..conftest import cli
from .conftest import Bundles, Server


def test_serve_bundle_prints_its_url_and_binds_loopback(bundle_server: Server) -> None:
    first = bundle_server.log.read_text().splitlines()[0]
    assert first.startswith("serving cancer:")
    assert f"on {bundle_server.url} " in first
    assert bundle_server.url.startswith("http://127.0.0.1:")


def test_serve_refuses_both_a_reference_and_a_bundle(bundles: Bundles, tmp_path: Path) -> None:
    r = cli("serve", "cancer@production", "--bundle", str(bundles.cancer), cwd=bundles.project)
    assert r.returncode == 2 and "not both" in r.stdout + r.stderr
    r = cli("serve", "--bundle", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and "no bundle" in r.stdout + r.stderr
    r = cli("serve", "nope@production", cwd=bundles.project)
    assert r.returncode == 2


def test_a_worker_imports_no_pandas_duckdb_sqlalchemy_or_training(bundles: Bundles) -> None:
    """The server's own code pulls in none of them; loading XGBoost may pull pandas (its own)."""
    code = (
        "import sys\n"
        "def bad(names):\n"
        "    return [m for m in sys.modules if m.split('.')[0] in names"
        " or m.startswith(('shipyard.tune', 'shipyard.pipeline.runner', 'shipyard.data'))]\n"
        "from shipyard.serve import ServedModel, create_app\n"
        "print(bad(('pandas', 'duckdb', 'sqlalchemy')))\n"
        "from shipyard.bundle import load_bundle\n"
        f"create_app([ServedModel(load_bundle({str(bundles.cancer)!r}), '1')])\n"
        "print(bad(('duckdb', 'sqlalchemy')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["[]", "[]"], out.stdout


def test_threads_per_worker_share_the_cpus_and_reach_xgboost(bundles: Bundles) -> None:
    """Two workers on N CPUs get N // 2 threads each (at least 1); --threads overrides."""
    import json

    from shipyard.bundle import load_bundle
    from shipyard.serve import ServedModel, threads_per_worker
    from shipyard.serve._model import cpu_count

    assert threads_per_worker(2) == max(1, cpu_count() // 2)
    assert threads_per_worker(10_000) == 1
    assert threads_per_worker(2, 3) == 3
    model = ServedModel(load_bundle(bundles.cancer), "1", threads=1)
    config = json.loads(model.bundle.model.model.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
