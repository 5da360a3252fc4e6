"""Shared fixtures: a fresh project folder per test, and helpers to write pipelines into it.

Also a PostgreSQL database per test for the tests that run against PostgreSQL
(``postgres_url``, ``pg_store_url``): `bash .ci/postgres.sh` starts a server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

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
    full_env = {**os.environ, "COLUMNS": "200"}
    full_env.pop("SHIPYARD_STORE_URL", None)  # a developer's own store; a test passes it in env
    full_env.update(env or {})
    return subprocess.run(
        [SHIPYARD, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def artifact_files(root: Path) -> set[str]:
    objects = root / ".shipyard" / "artifacts" / "objects"
    return {str(p.relative_to(objects)) for p in objects.rglob("*")} if objects.exists() else set()


DEFAULT_POSTGRES_URL = "postgresql+psycopg://shipyard:shipyard@127.0.0.1:5432/shipyard_test"


def _admin_engine(url: str) -> Engine:
    """An engine outside transactions (CREATE DATABASE needs that) that gives up quickly."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 2}
    )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the PostgreSQL server for tests (``SHIPYARD_TEST_POSTGRES_URL``).

    Without a reachable server the test is skipped, except in CI (``CI=true``),
    which starts one in `.ci/run` and must not go green by skipping.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = os.environ.get("SHIPYARD_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        message = (
            f"no PostgreSQL server for the tests at {where} (SHIPYARD_TEST_POSTGRES_URL):"
            f" {reason}. Start one with `bash .ci/postgres.sh`."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database of this test's own, dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"shipyard_test_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(postgres_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: a store the test left open must not keep its database alive. An autovacuum
        # worker (another role) can still hold it for a moment without pg_signal_backend.
        from sqlalchemy.exc import DBAPIError

        for attempt in range(20):
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except DBAPIError:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        admin.dispose()


def write_cancer_csv(
    folder: Path, *, rows: int | None = None, shuffle: bool = False, key: str | None = None
) -> Path:
    """scikit-learn's breast cancer table as ``folder/cancer.csv`` (spaces in names as ``_``).

    ``rows`` keeps the first rows only; ``shuffle`` permutes the labels (seed 0) so
    that they no longer follow the features; ``key`` adds an id column first.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    if rows is not None:
        frame = frame.iloc[:rows].copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    if shuffle:
        frame["target"] = np.random.default_rng(0).permutation(frame["target"].to_numpy())
    if key is not None:
        frame.insert(0, key, [f"p{i:04d}" for i in range(len(frame))])
    path = folder / "cancer.csv"
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path
