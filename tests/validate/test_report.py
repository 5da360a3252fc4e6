"""Tests of shipyard/validate/report.py: the HTML report of dataset statistics."""

from __future__ import annotations

import base64
import os
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from shipyard.validate.report import MAX_FEATURES, render_report, write_report
from shipyard.validate.schema import Anomalies, Anomaly
from shipyard.validate.stats import Statistics, compute_statistics

XSS = "<script>alert(1)</script>"
PNG = "data:image/png;base64,"

# -- helpers -----------------------------------------------------------------------------------


def table(n: int, *, shift: bool, seed: int) -> pa.Table:
    """Thirteen features of every kind; with ``shift``, ``age`` and ``plan`` move, nothing else."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1)
    return pa.table(
        {
            "age": rng.normal(48 if shift else 40, 12, n).round().astype(np.int64),
            "income": np.exp(rng.normal(10, 1, n)),
            "score": rng.uniform(0, 1, n),
            "city": rng.choice(["Paris", "Lyon", "Nice", "$5 town", "two\nlines"], n).tolist(),
            XSS: rng.choice(["<img src=x onerror=alert(1)>", "y"], n).tolist(),
            "active": rng.random(n) < 0.7,
            "signup": pa.array(
                [start + timedelta(days=float(d)) for d in rng.uniform(0, 365, n)],
                pa.timestamp("us"),
            ),
            "with_nulls": pa.array([None if x < 0.2 else float(x) for x in rng.random(n)]),
            "constant": np.full(n, 3.0),
            "plan": rng.choice(
                ["free", "pro", "team", *(["enterprise"] if shift else [])], n
            ).tolist(),
            "clicks": rng.poisson(3, n),
            "code": rng.choice([f"C{i:02d}" for i in range(50)], n).tolist(),
            "tags": pa.array([[1, 2]] * n),
        }
    )


def statistics(**splits: pa.Table) -> Statistics:
    return Statistics({name: compute_statistics(t.to_batches()) for name, t in splits.items()})


@pytest.fixture(scope="module")
def stats() -> Statistics:
    return statistics(train=table(4000, shift=False, seed=1), eval=table(1000, shift=True, seed=2))


@pytest.fixture(scope="module")
def anomalies() -> Anomalies:
    return Anomalies(
        [
            Anomaly(
                column="plan",
                rule="out_of_domain",
                severity="error",
                count=250,
                examples=["enterprise"],
                location="shard 0, row 3",
                message="expected one of 'free', 'pro', 'team'",
            ),
            Anomaly(
                column="with_nulls",
                rule="unexpected_nulls",
                severity="warning",
                count=800,
                examples=[None],
                message="expected no nulls",
            ),
        ],
        rows=5000,
    )


@pytest.fixture(scope="module")
def page(stats: Statistics, anomalies: Anomalies) -> str:
    return render_report(
        stats,
        title="Flights <statistics>",
        anomalies=anomalies,
        meta={"run": "run-42", "source": "data/*.parquet", "note": "<b>bold</b>"},
    )


class _Tables(HTMLParser):
    """Cell texts of every table row, keyed by the id of the section it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.section = ""
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id") or self.section
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.setdefault(self.section, []).append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def rows_of(html_text: str, section: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html_text)
    return parser.rows.get(section, [])


def drift_status(html_text: str) -> dict[str, str]:
    """Column -> status, from the drift table."""
    return {row[0]: row[-1] for row in rows_of(html_text, "drift") if row[0] != "column"}


def feature_ids(html_text: str) -> list[str]:
    return re.findall(r'<section class="feature" id="(f\d+)">', html_text)


# -- content -----------------------------------------------------------------------------------


def test_each_feature_has_a_section_with_one_plot_of_both_splits(page: str) -> None:
    sections = page.split('<section class="feature"')[1:]
    assert len(sections) == 13
    names = [re.search(r"<span class=name>(.*?)</span>", s).group(1) for s in sections]  # type: ignore[union-attr]
    assert "age" in names and "&lt;script&gt;alert(1)&lt;/script&gt;" in names
    for name, section in zip(names, sections, strict=True):
        if name == "tags":  # a list column has no distribution
            assert PNG not in section and "No distribution to plot" in section
            continue
        assert section.count(PNG) == 1, name
        assert 'alt="Distribution of' in section and "in train and eval" in section
    assert page.count(PNG) == 12


def test_plots_are_valid_pngs(page: str) -> None:
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_the_header_shows_title_rows_per_split_and_meta(page: str) -> None:
    head = page.split("</header>")[0]
    assert "<title>Flights &lt;statistics&gt;</title>" in page
    assert "<h1>Flights &lt;statistics&gt;</h1>" in head
    assert "<b>train</b> 4,000 rows" in head and "<b>eval</b> 1,000 rows" in head
    assert "<dt>run</dt><dd>run-42</dd>" in head
    assert "&lt;b&gt;bold&lt;/b&gt;" in head


def test_the_summary_table_of_each_split_lists_every_column(page: str) -> None:
    rows = rows_of(page, "summary")
    headers = [r for r in rows if r[0] == "column"]
    assert len(headers) == 2
    assert headers[0] == [
        "column", "type", "count", "nulls", "min", "mean", "max", "std", "distinct", "top values"
    ]  # fmt: skip
    by_name = {r[0]: r for r in rows if r[0] != "column"}  # the last split's rows
    assert len([r for r in rows if r[0] != "column"]) == 26
    assert by_name["with_nulls"][3].endswith("%") and by_name["with_nulls"][3] != "0%"
    assert by_name["signup"][4].startswith("2024-01-0")  # datetimes as dates, not seconds
    assert by_name["constant"][4:7] == ["3", "3", "3"]
    assert by_name["city"][9].count("%") == 3  # the top three values
    assert "two\\nlines" in page  # a control character is shown escaped


def test_the_shifted_feature_drifts_and_the_unshifted_ones_do_not(page: str) -> None:
    status = drift_status(page)
    assert status["age"] == "drift"
    assert status["plan"] == "drift"
    for column in ("score", "income", "active", "clicks", "constant"):
        assert status[column] == "ok", column
    assert status["tags"] == "n/a"
    # Most drifted first; the lead sentence counts them.
    assert list(status)[:2] == ["plan", "age"] or list(status)[:2] == ["age", "plan"]
    assert "2 of 13 features</b> drifted between <b>train</b> and <b>eval</b>" in page


def test_the_drift_of_a_feature_is_shown_in_its_section(page: str) -> None:
    sections = dict(zip(feature_ids(page), page.split('<section class="feature"')[1:], strict=True))
    age = next(s for s in sections.values() if "<span class=name>age</span>" in s)
    score = next(s for s in sections.values() if "<span class=name>score</span>" in s)
    assert '<span class="badge drift">drift</span>' in age
    assert re.search(
        r"PSI <span class=\"dim\">\(&gt; 0.2\)</span></th><td class=\"num flag\">", age
    )
    assert '<span class="badge ok">ok</span>' in score and "num flag" not in score


def test_anomalies_show_errors_and_warnings_with_examples(page: str) -> None:
    section = page.split('<section id="anomalies">')[1].split("</section>")[0]
    assert "1 error" in section and "1 warning" in section
    assert '<tr class="error">' in section and '<tr class="warning">' in section
    assert section.index('class="error"') < section.index('class="warning"')
    rows = rows_of(page, "anomalies")
    assert rows[1][:6] == [
        "error",
        "plan",
        "out_of_domain",
        "250",
        "'enterprise'",
        "shard 0, row 3",
    ]
    assert rows[2][:5] == ["warning", "with_nulls", "unexpected_nulls", "800", "null"]


def test_anomalies_are_read_duck_typed_and_none_leaves_the_section_out(stats: Statistics) -> None:
    odd = SimpleNamespace(
        errors=[SimpleNamespace(column="x", rule="custom", severity="error", message="boom")],
        warnings=[],
    )
    page = render_report(stats, title="t", anomalies=odd, max_features=0)
    assert "<td>custom</td>" in page and "<td>boom</td>" in page
    clean = render_report(stats, title="t", anomalies=Anomalies([]), max_features=0)
    assert "No anomalies" in clean
    assert 'id="anomalies"' not in render_report(stats, title="t", max_features=0)


def test_strings_from_data_are_escaped(page: str) -> None:
    assert "<script" not in page
    assert "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page  # cut to fit its cell, but there


def test_hostile_split_names_and_values_are_escaped() -> None:
    rows = table(300, shift=False, seed=3)
    stats = statistics(**{XSS: rows, '"><b>x': rows})
    page = render_report(stats, title=XSS, reference_split=XSS, compare_split='"><b>x')
    assert "<script" not in page and '"><b>x' not in page
    assert "&lt;script&gt;" in page and "&quot;&gt;&lt;b&gt;x" in page


def test_the_page_is_self_contained(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    for src in re.findall(r'src="([^"]*)"', page):
        assert src.startswith(PNG)
    assert "default-src 'none'" in page  # and the browser is told so


def test_a_single_split_has_no_comparison_and_no_drift_section() -> None:
    stats = statistics(all=table(500, shift=False, seed=4))
    page = render_report(stats, title="one split")
    assert 'id="drift"' not in page and 'href="#drift"' not in page
    assert "<th>drift</th>" not in page and ">PSI" not in page and "badge ok" not in page
    assert page.count(PNG) == 12
    assert "in all" in page and "in all and" not in page
    assert '<section id="summary">' in page


def test_no_compare_split_means_no_drift() -> None:
    rows = table(500, shift=False, seed=5)
    page = render_report(statistics(train=rows, eval=rows), title="t", compare_split=None)
    assert 'id="drift"' not in page
    assert page.count(PNG) == 12


def test_plots_are_capped_to_the_most_drifted(stats: Statistics) -> None:
    page = render_report(stats, title="t", max_features=2)
    assert page.count(PNG) == 2
    assert "Plots for the most drifted 2 features of 13" in page
    plotted = re.findall(
        r"<section class=\"feature\" id=\"f\d+\"><h3><span class=name>([^<]*)", page
    )
    assert sorted(plotted) == ["age", "plan"]
    assert len([r for r in rows_of(page, "summary") if r[0] != "column"]) == 26
    assert MAX_FEATURES == 100


def test_rendering_is_deterministic(stats: Statistics, page: str, anomalies: Anomalies) -> None:
    again = render_report(
        stats,
        title="Flights <statistics>",
        anomalies=anomalies,
        meta={"run": "run-42", "source": "data/*.parquet", "note": "<b>bold</b>"},
    )
    assert again == page


def test_thresholds_decide_status_from_given_drift_rows(stats: Statistics) -> None:
    rows: list[dict[str, Any]] = [
        {"column": "age", "kind": "numeric", "psi": 0.25, "ks": 0.05, "drifted": True},
        {"column": "score", "kind": "numeric", "psi": 0.05, "ks": 0.15, "drifted": False},
        {"column": "income", "kind": "numeric", "psi": 0.15, "drifted": False},
        {"column": "city", "kind": "categorical", "psi": 0.01, "p_value": 1e-9},
        {"column": "code", "kind": "categorical", "psi": 0.01, "js_divergence": 0.04},
        {"column": "plan", "kind": "categorical", "psi": None, "new_category_rate": 0.2},
        {"column": "clicks", "kind": "numeric", "missing": True},
    ]
    page = render_report(stats, title="t", drift=rows, max_features=0)
    status = drift_status(page)
    assert status == {
        "age": "drift",
        "score": "watch",  # KS past 0.1, PSI fine
        "income": "watch",  # PSI between 0.1 and 0.2
        "code": "watch",  # JS distance sqrt(0.04) = 0.2 > 0.1
        "plan": "watch",  # 20% new categories
        "clicks": "missing",
        "city": "ok",  # a tiny p-value alone decides nothing
    }
    city = next(r for r in rows_of(page, "drift") if r[0] == "city")
    assert "1.0e-09" in city
    assert 'class="num soft">1.0e-09' in page


# -- errors and files --------------------------------------------------------------------------


def test_unknown_splits_are_refused_with_the_splits_there_are(stats: Statistics) -> None:
    with pytest.raises(ValueError, match=r"reference_split 'training'.*'train', 'eval'"):
        render_report(stats, title="t", reference_split="training")
    with pytest.raises(ValueError, match=r"compare_split 'test'.*'train', 'eval'"):
        render_report(stats, title="t", compare_split="test")
    with pytest.raises(ValueError, match="must differ"):
        render_report(stats, title="t", compare_split="train")
    with pytest.raises(ValueError, match="no split"):
        render_report(Statistics({}), title="t")
    with pytest.raises(ValueError, match="max_features must be >= 0; got -1"):
        render_report(stats, title="t", max_features=-1)


def test_columns_in_one_split_only_and_empty_columns_are_shown() -> None:
    empty = pa.array([None, None, None], pa.float64())
    train = pa.table({"a": [1.0, 2.0, 3.0], "gone": ["x", "y", "z"], "empty": empty})
    cur = pa.table({"a": [1.0, 2.0, 2.5], "fresh": [True, False, True], "empty": empty})
    page = render_report(statistics(train=train, eval=cur), title="t")
    status = drift_status(page)
    assert status["gone"] == "missing" and status["fresh"] == "new"
    assert "Not in eval." in page and "Not in train." in page
    assert "No distribution to plot for a column with no values" in page


def test_a_column_that_changed_kind_is_plotted_for_the_reference_only() -> None:
    train = pa.table({"x": [1.0, 2.0, 3.0]})
    cur = pa.table({"x": ["a", "b", "c"]})
    page = render_report(statistics(train=train, eval=cur), title="t")
    assert drift_status(page) == {"x": "kind changed"}
    assert "eval has it as categorical (string): not plotted." in page
    assert page.count(PNG) == 1 and "in train and eval" not in page


def test_dates_and_zoned_timestamps_read_as_dates() -> None:
    days = [datetime(2024, 3, d) for d in range(1, 29)]
    rows = pa.table(
        {
            "day": pa.array([d.date() for d in days], pa.date32()),
            "at": pa.array(days, pa.timestamp("ms", tz="UTC")),
        }
    )
    page = render_report(statistics(all=rows), title="t")
    summary = {r[0]: r for r in rows_of(page, "summary")}
    assert summary["day"][4:7:2] == ["2024-03-01", "2024-03-28"]
    assert summary["at"][4] == "2024-03-01 00:00:00+00:00"
    assert page.count(PNG) == 2


def test_write_report_writes_atomically(
    tmp_path: Path, stats: Statistics, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    assert write_report(target, stats, title="t", max_features=1) == target
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count(PNG) == 1
    assert os.listdir(tmp_path) == ["report.html"]
    assert target.stat().st_mode & 0o644 == 0o644

    # A write that fails at the last step leaves the old report and no temporary file.
    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_report(target, stats, title="other", max_features=0)
    assert target.read_text(encoding="utf-8") == text
    assert os.listdir(tmp_path) == ["report.html"]
