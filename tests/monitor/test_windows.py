"""Windows of the prediction log: by rows and by time, state kept between calls, empty and one-row windows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipyard.monitor import WindowResult, run_monitor
from shipyard.pipeline.project import Project

from .conftest import make_table, write_log


def _project(root: Path, window: dict[str, object]) -> Project:
    project = Project.discover(root)
    monitor = project.config.monitor.model_copy(
        update={"window": type(project.config.monitor.window)(**window)}
    )
    return Project(project.root, project.config.model_copy(update={"monitor": monitor}))


def test_windows_by_rows_never_report_a_row_twice(monitored: Path) -> None:
    write_log(monitored, make_table(250, 1), request_rows=10)
    project = _project(monitored, {"rows": 100})
    try:
        first = run_monitor(project, "loans@production")
        assert [w.rows for w in first] == [100, 100]  # 50 rows wait for a full window
        again = run_monitor(project, "loans@production")
        assert again == []  # nothing new: the same rows are not reported twice
        write_log(monitored, make_table(60, 2), request_rows=5)  # a new file is picked up
        later = run_monitor(project, "loans@production")
        assert [w.rows for w in later] == [100]
        rest = run_monitor(project, "loans@production", partial=True)
        assert [w.rows for w in rest] == [10]
    finally:
        project.close()
    ids = [w.window_id for w in first + later + rest]
    assert ids == sorted(set(ids))
    assert first[0].report_html is not None and first[0].report_html.is_file()
    assert (first[0].report_html.parent / "report.html").is_file()


def test_windows_by_time_close_on_the_grid_and_gaps_are_one_empty_window(monitored: Path) -> None:
    write_log(monitored, make_table(120, 3), request_rows=4)
    project = _project(monitored, {"time": "1h"})
    try:
        now = time.time()
        assert run_monitor(project, "loans@production", now=now) == []  # the hour is not over
        hour = 3600.0
        later = (now // hour + 1) * hour + 10  # just after the hour the rows fall in
        first = run_monitor(project, "loans@production", now=later)
        assert sum(w.rows for w in first) == 120 and first[-1].end % hour == 0
        assert first[0].end - first[0].start <= hour and first[0].end % hour == 0
        # Three hours later with no traffic: one window of no rows, reported as such.
        empty = run_monitor(project, "loans@production", now=later + 3 * hour)
        assert len(empty) == 1 and empty[0].rows == 0
        assert empty[0].metrics["rows"] == 0 and empty[0].metrics["psi:income"] is None
        assert "no traffic" in " ".join(empty[0].report.notes)  # type: ignore[union-attr]
        assert run_monitor(project, "loans@production", now=later + 3 * hour) == []
    finally:
        project.close()


def test_a_failing_on_window_hook_never_stops_the_monitor(
    monitored: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(monitored, make_table(300, 4), request_rows=10)
    project = _project(monitored, {"rows": 100})
    seen: list[int] = []

    def hook(result: WindowResult) -> None:
        seen.append(result.window_id)
        raise RuntimeError("the alert receiver is down")

    try:
        results = run_monitor(project, "loans@production", on_window=hook)
    finally:
        project.close()
    assert [r.rows for r in results] == [100, 100, 100]
    assert seen == [r.window_id for r in results]
    assert "on_window failed" in caplog.text and "the alert receiver is down" in caplog.text


def test_shadow_rows_and_extra_columns_are_tolerated_and_left_out(monitored: Path) -> None:
    """A log with a ``shadow`` column (and others this version does not know) still reads."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = monitored / ".shipyard" / "predictions"
    write_log(monitored, make_table(40, 5), request_rows=4)
    [file] = list(folder.glob("*.parquet"))
    table = pq.read_table(file)
    if "shadow" in table.column_names:  # the log writes it now: mark some rows as a shadow's
        table = table.drop_columns(["shadow"])
    shadow = pa.array([i % 4 == 0 for i in range(table.num_rows)])
    extended = table.append_column("shadow", shadow).append_column(
        "retention_tag", pa.array(["x"] * table.num_rows)
    )
    file.unlink()  # the same rows, now as a newer server writes them
    pq.write_table(extended, folder / file.name)
    project = _project(monitored, {"rows": 1000})
    try:
        [window] = run_monitor(project, "loans@production", partial=True)
    finally:
        project.close()
    assert window.rows == 40 - int(pc.sum(shadow).as_py()) == 30
