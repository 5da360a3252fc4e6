"""Labels that arrive later: stored immutable, joined by request id or key, the evaluation's metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from shipyard.errors import ConfigError
from shipyard.evaluate.metrics import compute_metrics
from shipyard.monitor import import_labels, run_monitor
from shipyard.monitor._labels import labels_folder

from .conftest import make_table, served_model, write_log
from .test_windows import _project


def test_labels_by_request_id_give_the_evaluation_metrics(monitored: Path, tmp_path: Path) -> None:
    table = make_table(400, 21)
    model = served_model(monitored)
    ids = write_log(monitored, table, request_rows=1, model=model)
    labelled = 300  # the last 100 rows never get a label
    labels = pa.table({"rid": ids[:labelled], "outcome": table.column("y").slice(0, labelled)})
    source = tmp_path / "labels.csv"
    pacsv.write_csv(labels, source)
    path, rows = import_labels(
        source,
        labels_folder(monitored / ".shipyard", "loans"),
        request_id_column="rid",
        label_column="outcome",
    )
    assert rows == labelled
    assert oct(path.stat().st_mode & 0o777) == "0o444"

    project = _project(monitored, {"rows": 1000})
    try:
        [window] = run_monitor(project, "loans@production", partial=True)
    finally:
        project.close()
    scores = model.predict([{n: table.column(n).combine_chunks() for n in model.signature.names}])
    expected = compute_metrics(
        "binary",
        table.column("y").to_numpy()[:labelled],
        scores.column("probability").to_numpy()[:labelled],
        threshold=0.5,
    )
    assert window.metrics["label_rows"] == labelled
    for name in ("roc_auc", "accuracy", "log_loss"):
        assert window.metrics[name] == pytest.approx(expected[name], rel=1e-9), name


def test_a_label_file_without_the_named_column_is_refused(monitored: Path, tmp_path: Path) -> None:
    source = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"id": ["a"], "label": [1]}), source)
    with pytest.raises(ConfigError, match="no label column 'outcome'.*columns are"):
        import_labels(source, tmp_path / "out", key="id", label_column="outcome")
    pq.write_table(pa.table({"id": ["a"], "label": ["yes"]}), source)
    with pytest.raises(ConfigError, match="expected numbers"):
        import_labels(source, tmp_path / "out", key="id")
    with pytest.raises(ConfigError, match="--key COLUMN or --request-id-column"):
        import_labels(source, tmp_path / "out")
    assert not np.any([p.suffix == ".parquet" for p in (tmp_path / "out").glob("*")])


def test_labels_that_arrive_after_the_window_are_added_on_the_next_run(
    monitored: Path, tmp_path: Path
) -> None:
    from shipyard.monitor._store import list_windows
    from shipyard.pipeline.project import Project

    table = make_table(200, 22)
    ids = write_log(monitored, table, request_rows=1)
    project = _project(monitored, {"rows": 100})
    try:
        first = run_monitor(project, "loans@production")
        assert [w.rows for w in first] == [100, 100] and "accuracy" not in first[0].metrics
        source = tmp_path / "late.parquet"
        pq.write_table(pa.table({"rid": ids, "label": table.column("y")}), source)
        import_labels(
            source, labels_folder(monitored / ".shipyard", "loans"), request_id_column="rid"
        )
        assert run_monitor(project, "loans@production") == []  # no new window, but ...
        stored = list_windows(Project.discover(monitored).metadata, "loans", "loans@production")
    finally:
        project.close()
    assert [w["metrics"]["label_rows"] for w in stored] == [100, 100]  # ... both got labels
    assert all(0.5 < w["metrics"]["accuracy"] <= 1.0 for w in stored)
