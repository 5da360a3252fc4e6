"""Tests of shipyard/evaluate/report.py: the HTML evaluation report."""

from __future__ import annotations

import base64
import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from shipyard.config import EvaluateConfig
from shipyard.evaluate import (
    Evaluation,
    evaluate,
    render_evaluation_report,
    write_evaluation_report,
)

XSS = "<script>alert(1)</script>"
PNG = "data:image/png;base64,"


class Tags(HTMLParser):
    """Collects start tags, and fails on tags left open (a broken page)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def parse(page: str) -> list[str]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


@pytest.fixture(scope="module")
def binary_evaluation() -> Evaluation:
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    z = rng.normal(size=n) + 1.5 * y
    candidate, production = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(-(z + rng.normal(0, 1, n))))
    cfg = EvaluateConfig.model_validate(
        {
            "metrics": ["roc_auc", "log_loss", "accuracy", "ece"],
            "bootstrap": 100,
            "slices": ["city"],
            "gate": {"thresholds": {"roc_auc": {"min": 0.6}}},
        }
    )
    return evaluate(
        "binary",
        y,
        candidate,
        config=cfg,
        production_score=production,
        threshold=0.45,
        slices={"city": rng.choice(["Paris", XSS, "$x$ town"], n), "age": rng.normal(40, 9, n)},
        importances={
            "gain": {"age": 0.6, XSS: 0.4},
            "permutation": {"age": (0.05, 0.01), "x": (0.0, 0.002)},
        },
    )


def test_binary_report_has_verdict_metrics_plots_slices_importances(
    binary_evaluation: Evaluation,
) -> None:
    page = render_evaluation_report(
        binary_evaluation, title="Flights model", meta={"run": "abc123"}
    )
    assert page.startswith("<!DOCTYPE html>")
    for section in ("verdict", "metrics", "plots", "slices", "importances"):
        assert f'id="{section}"' in page
    # The verdict comes first, right after the header.
    assert page.index('id="verdict"') < page.index('id="metrics"') < page.index('id="plots"')
    assert "Verdict: blessed" in page
    assert "ROC curve" in page and "Precision–recall" in page and "Calibration" in page
    assert "Labels at threshold 0.4500" in page
    assert "production" in page and "improvement" in page
    pngs = images(page)
    assert len(pngs) == 5  # ROC, PR, calibration, two importance charts
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    assert "script" not in parse(page)


def test_hostile_strings_are_escaped(binary_evaluation: Evaluation) -> None:
    page = render_evaluation_report(binary_evaluation, title=XSS, meta={XSS: XSS})
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "script" not in parse(page)
    assert "default-src 'none'" in page  # and the CSP forbids scripts anyway


def test_a_rejection_is_shown_with_its_reason() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1500)
    z = rng.normal(size=1500) + 1.5 * y
    result = evaluate(
        "binary",
        y,
        1 / (1 + np.exp(-(z + rng.normal(0, 2, 1500)))),
        production_score=1 / (1 + np.exp(-z)),
    )
    page = render_evaluation_report(result)
    assert "Verdict: rejected" in page
    assert "kept with its run but not registered" in page
    assert result.verdict is not None
    assert html.escape(result.verdict.reasons[0]) in page


def test_multiclass_report_draws_a_confusion_matrix() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 600)
    p = rng.dirichlet(np.ones(4), 600)
    result = evaluate("multiclass", y, p, labels=["a", "b", "$c$", XSS])
    page = render_evaluation_report(result)
    assert "Confusion matrix" in page and len(images(page)) == 1
    assert XSS not in page


def test_regression_report_draws_residuals_and_predicted_vs_actual() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=3000)
    result = evaluate(
        "regression", y, y + rng.normal(0, 0.3, 3000), config=EvaluateConfig(bootstrap=50)
    )
    page = render_evaluation_report(result)
    assert "Predicted vs actual" in page and "Residuals vs predicted" in page
    assert len(images(page)) == 2
    assert "RMSE" in page and "95% interval" in page


def test_the_report_renders_from_the_stored_dict_alone(binary_evaluation: Evaluation) -> None:
    again = Evaluation.from_dict(binary_evaluation.to_dict())
    assert render_evaluation_report(again) == render_evaluation_report(binary_evaluation)


def test_write_is_atomic_and_does_not_touch_pyplot(
    binary_evaluation: Evaluation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With pyplot made unimportable, any use of it (and its global backend) would fail.
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    target = write_evaluation_report(tmp_path / "evaluation.html", binary_evaluation, title="t")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation.html"]
