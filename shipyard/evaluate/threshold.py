"""The decision threshold of a binary model, chosen on the eval split by a rule.

A binary model predicts P(class 1); its label is 1 when that probability is
at least the stored threshold. Rules:

================= =========================================================
rule              threshold chosen
================= =========================================================
``"f1"``          the one with the highest F1
``"youden"``      the one with the highest TPR - FPR (Youden's J)
``"precision>=x"`` the one with the highest recall among those with precision >= x
``"recall>=x"``   the one with the highest precision among those with recall >= x
``"fpr<=x"``      the one with the highest recall among those with FPR <= x
``0.35``          that number, fixed (also as text: ``"0.35"``)
================= =========================================================

The candidates are the distinct scores of the eval rows, so the rule's
figure is met exactly on those rows; among equally good thresholds the
highest wins (fewest positive labels).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._engine import ratio
from ._inputs import check_inputs

__all__ = ["RULES", "check_threshold_rule", "choose_threshold"]

RULES = ("f1", "youden", "precision>=X", "recall>=X", "fpr<=X", "a number in [0, 1]")
_BOUND = re.compile(r"\s*(precision|recall|tpr|fpr)\s*(>=|<=)\s*([0-9]*\.?[0-9]+)\s*")
_BOUND_DIRECTION = {"precision": ">=", "recall": ">=", "tpr": ">=", "fpr": "<="}


@dataclass(frozen=True)
class _Rule:
    kind: str  # fixed, f1, youden, precision, recall, fpr
    value: float = 0.0


def check_threshold_rule(rule: str | float) -> None:
    """Raise ValueError if ``rule`` is not a threshold rule (see the module's table)."""
    _parse(rule)


def choose_threshold(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    rule: str | float = "f1",
    *,
    sample_weight: npt.ArrayLike | None = None,
) -> float:
    """Choose the threshold of a binary model on eval rows by ``rule``.

    Parameters
    ----------
    y_true
        0/1 labels of shape (n,).
    y_score
        P(class 1) of shape (n,).
    rule
        ``"f1"``, ``"youden"``, ``"precision>=0.9"``, ``"recall>=0.8"``,
        ``"fpr<=0.01"``, or a fixed number in [0, 1].
    sample_weight
        A non-negative weight per row; None: 1 each.

    Returns
    -------
    float
        The threshold: rows scoring at least this are labelled 1.

    Raises
    ------
    ValueError
        For an unknown rule (the message lists the rules), for eval rows
        without both classes (any rule but a fixed number), and when no
        threshold meets a bound (the message gives the best reachable value).
    """
    parsed = _parse(rule)
    if parsed.kind == "fixed":
        return parsed.value
    y, s, w = check_inputs("binary", y_true, y_score, sample_weight)
    weight = np.ones(len(y)) if w is None else w
    order = np.argsort(-s, kind="stable")
    ranked = s[order]
    ends = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), len(s) - 1)
    tp = np.cumsum(weight[order] * y[order])[ends]  # labelled 1 and right, per candidate
    labelled = np.cumsum(weight[order])[ends]
    fp = labelled - tp
    pos, neg = tp[-1], fp[-1]
    if pos == 0 or neg == 0:
        raise ValueError(
            f"choosing a threshold by {rule!r} needs eval rows of both classes; "
            f"got {'no' if pos == 0 else 'only'} positive rows"
        )
    candidates = ranked[ends]
    recall, fpr = tp / pos, fp / neg
    precision = ratio(tp, labelled, 0.0)
    if parsed.kind == "f1":
        return float(candidates[np.argmax(2 * tp / (labelled + pos))])
    if parsed.kind == "youden":
        return float(candidates[np.argmax(recall - fpr)])
    bound = {"precision": precision, "recall": recall, "fpr": fpr}[parsed.kind]
    goal = precision if parsed.kind == "recall" else recall
    meets = bound >= parsed.value if parsed.kind != "fpr" else bound <= parsed.value
    if not meets.any():
        best = bound.max() if parsed.kind != "fpr" else bound.min()
        raise ValueError(
            f"no threshold meets {rule!r} on the eval rows; "
            f"the best {parsed.kind} reachable is {best:.4g}"
        )
    return float(candidates[np.argmax(np.where(meets, goal, -np.inf))])


def _parse(rule: str | float) -> _Rule:
    if isinstance(rule, int | float) and not isinstance(rule, bool):
        return _fixed(float(rule), rule)
    if not isinstance(rule, str):
        raise ValueError(_expected(rule))
    text = rule.strip().lower()
    try:
        return _fixed(float(text), rule)
    except ValueError:
        pass
    if text in ("f1", "youden"):
        return _Rule(text)
    match = _BOUND.fullmatch(text)
    if match is None:
        raise ValueError(_expected(rule))
    metric, op, value = match[1], match[2], float(match[3])
    if op != _BOUND_DIRECTION[metric]:
        raise ValueError(
            f"threshold rule {rule!r}: {metric} takes a bound "
            f"'{metric}{_BOUND_DIRECTION[metric]}x'; got {op!r}"
        )
    if not 0 <= value <= 1:
        raise ValueError(f"threshold rule {rule!r}: the bound must be in [0, 1]; got {value:g}")
    return _Rule("recall" if metric == "tpr" else metric, value)


def _fixed(value: float, rule: object) -> _Rule:
    if not 0 <= value <= 1:
        raise ValueError(f"a fixed threshold must be in [0, 1]; got {rule!r}")
    return _Rule("fixed", value)


def _expected(rule: object) -> str:
    message = f"unknown threshold rule {rule!r}"
    words = ["f1", "youden", "precision>=", "recall>=", "fpr<="]
    close = difflib.get_close_matches(str(rule).strip().lower(), words, n=1, cutoff=0.5)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message + f" Expected one of: {', '.join(RULES)}"
