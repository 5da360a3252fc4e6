"""Behavioural tests of a model ("probes"): invariance, directional expectations, fixed cases.

One function, :func:`run_probes`, runs the probes of ``monitor.probes`` with
any ``predict`` function that maps input rows (an Arrow table) to the
prediction output of ``shipyard/bundle/output.py``. At the gate that is the
candidate's transform and model; against a live endpoint it is
:func:`endpoint_predictor` (``POST /models/NAME/predict`` in batches), so a
probe means the same thing in both places.

The score compared is P(positive class) for ``binary``, the prediction for
``regression``, and for ``multiclass`` the probability of the label the
unchanged row got (a fixed case with ``expect`` compares labels).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._config_serve import DirectionalProbe, FixedCase, InvarianceProbe, ProbesConfig
from ..errors import ConfigError, EndpointError

__all__ = ["ProbeReport", "ProbeResult", "endpoint_predictor", "run_probes"]

Predict = Callable[[pa.Table], pa.Table]

MAX_SEEN_VALUES = 20
"""An invariance probe without ``values`` tries at most this many of the sample's values."""

Kind = Literal["invariance", "directional", "fixed"]


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe.

    Attributes
    ----------
    name, kind
        The probe's name (its own, or made from its column) and kind.
    passed
        Whether every checked row (or the fixed case) met the expectation.
    checked, failures
        Rows checked, and rows that broke the expectation.
    worst
        The worst row: ``row`` (its index in the rows given), ``key`` (the key
        column's value, when known), ``before`` and ``after`` (scores), and
        ``value`` (the value tried, invariance); for a fixed case ``after``
        is the score it got and ``label`` its label. None when nothing was checked.
    message
        One sentence with the numbers.
    """

    name: str
    kind: Kind
    passed: bool
    checked: int
    failures: int
    worst: dict[str, Any] | None
    message: str

    def worst_text(self) -> str:
        """The worst case in a few words, for tables."""
        w = self.worst
        if not w:
            return "-"
        if self.kind == "fixed":
            label = f", label {w['label']}" if w.get("label") is not None else ""
            return f"got {_num(w.get('after'))}{label}"
        where = f"row {w['row']}" + (f" ({w['key']})" if w.get("key") is not None else "")
        tried = f" at {w['value']!r}" if "value" in w else ""
        return f"{where}{tried}: {_num(w.get('before'))} -> {_num(w.get('after'))}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN written as None)."""
        data = asdict(self)
        data["worst"] = None if self.worst is None else {k: _json(v) for k, v in self.worst.items()}
        return data


@dataclass(frozen=True)
class ProbeReport:
    """Every probe's result, and the rows they ran on."""

    task: str
    rows: int
    results: list[ProbeResult]

    @property
    def passed(self) -> bool:
        """Whether every probe passed."""
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.passed]

    def checks(self) -> list[dict[str, Any]]:
        """The results as checks of the gate's :class:`~shipyard.evaluate.Verdict`."""
        return [
            {
                "check": "probe",
                "metric": r.name,
                "passed": r.passed,
                "skipped": False,
                "value": float(r.failures),
                "limit": 0.0,
                "message": r.message,
            }
            for r in self.results
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "passed": self.passed,
            "results": [r.to_dict() for r in self.results],
        }


def run_probes(
    probes: ProbesConfig,
    predict: Predict,
    rows: pa.Table,
    *,
    task: str,
    key: str | None = None,
    seed: int = 0,
) -> ProbeReport:
    """Run the configured probes of a model through ``predict``.

    Parameters
    ----------
    probes
        The ``monitor.probes`` section.
    predict
        Input rows -> the task's prediction output (``probability``/``label``,
        ``label``/``probabilities`` or ``prediction``), one row per input row.
    rows
        Rows to probe with; ``probes.rows`` of them are sampled (seeded). Fixed
        cases take their column types from it, and in the columns a case leaves
        out the most frequent value of the sampled rows (null if it has none).
    task
        ``binary``, ``multiclass`` or ``regression``.
    key
        A column that names rows (shown in the worst case), if any.
    seed
        Seed of the sample.

    Returns
    -------
    ProbeReport

    Raises
    ------
    ConfigError
        A probe names a column that is not in ``rows`` (or not numeric, for a
        directional probe), or a value that cannot be read as its column's type.
    ValueError
        No rows to probe with, or ``predict`` answered the wrong number of rows.
    """
    sampled = probes.invariance or probes.directional
    if rows.num_rows == 0 and (sampled or probes.fixed):
        raise ValueError("no rows to probe with: the probes need at least one input row")
    ids = np.arange(rows.num_rows)
    if rows.num_rows > probes.rows:
        rng = np.random.default_rng(seed)
        ids = np.sort(rng.choice(rows.num_rows, size=probes.rows, replace=False))
    sample = rows.take(pa.array(ids))
    keys = sample.column(key).to_pylist() if key and key in sample.column_names else None
    prober = _Prober(task, predict, sample, ids, keys)
    results: list[ProbeResult] = []
    if sampled:
        prober.baseline()
    for index, inv in enumerate(probes.invariance):
        results.append(prober.invariance(inv, f"monitor.probes.invariance[{index}]"))
    for index, drc in enumerate(probes.directional):
        results.append(prober.directional(drc, f"monitor.probes.directional[{index}]"))
    if probes.fixed:
        results.extend(prober.fixed(probes.fixed, rows.schema))
    return ProbeReport(task, sample.num_rows, results)


class _Prober:
    """The sample, its baseline scores, and the checks of each kind of probe."""

    def __init__(
        self,
        task: str,
        predict: Predict,
        sample: pa.Table,
        ids: np.ndarray,
        keys: list[Any] | None,
    ) -> None:
        self.task, self.predict, self.sample, self.ids, self.keys = task, predict, sample, ids, keys
        self.before = np.zeros(0)
        self.labels: np.ndarray | None = None

    def _call(self, table: pa.Table) -> pa.Table:
        out = self.predict(table)
        if out.num_rows != table.num_rows:
            raise ValueError(f"predict answered {out.num_rows} rows for {table.num_rows}")
        return out

    def baseline(self) -> None:
        out = self._call(self.sample)
        if self.task == "multiclass":
            self.labels = _labels(out)
        self.before = _score(self.task, out, self.labels)

    def _worst(self, i: int, before: Any, after: Any, **extra: Any) -> dict[str, Any]:
        worst: dict[str, Any] = {
            "row": int(self.ids[i]),
            "before": float(before),
            "after": float(after),
        }
        if self.keys is not None:
            worst["key"] = self.keys[i]
        return worst | extra

    def invariance(self, probe: InvarianceProbe, where: str) -> ProbeResult:
        column = _column(self.sample, probe.column, f"{where}.column")
        name = probe.name or f"invariance:{probe.column}"
        values = list(probe.values) or _seen(column)
        n = self.sample.num_rows
        if not values:
            why = f"{probe.column!r} has no values in the sampled rows to try"
            return ProbeResult(
                name, "invariance", False, 0, 0, None, f"probe {name!r} failed: {why}"
            )
        index = self.sample.schema.get_field_index(probe.column)
        variants = [
            self.sample.set_column(
                index, probe.column, _constant(v, n, column.type, f"{where}.values")
            )
            for v in values
        ]
        labels = None if self.labels is None else np.tile(self.labels, len(values))
        after = _score(self.task, self._call(pa.concat_tables(variants)), labels)
        after = after.reshape(len(values), n)  # (values, rows)
        change = _change(self.before, after)
        per_row, at = change.max(axis=0), change.argmax(axis=0)
        bad = int((per_row > probe.tolerance).sum())
        i = int(np.argmax(per_row))
        value = values[at[i]]
        worst = self._worst(i, self.before[i], after[at[i], i], value=value, change=per_row[i])
        tried = f"setting {probe.column!r} to {len(values)} value{'s' if len(values) > 1 else ''}"
        if not bad:
            text = f"{tried} moved the score by at most {_num(per_row[i])} on {n} rows"
            text += f" (tolerance {probe.tolerance:g})"
        else:
            text = (
                f"{tried} moved the score by more than the tolerance {probe.tolerance:g} on {bad}"
                f" of {n} rows; worst: {_where(worst)} with {probe.column!r} = {value!r}:"
                f" {_num(worst['before'])} -> {_num(worst['after'])}"
            )
        return _result(name, "invariance", n, bad, worst, text)

    def directional(self, probe: DirectionalProbe, where: str) -> ProbeResult:
        column = _column(self.sample, probe.column, f"{where}.column")
        name = probe.name or f"directional:{probe.column}"
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise ConfigError(
                f"a directional probe needs a numeric column; {probe.column!r} is {column.type}",
                field=f"{where}.column",
            )
        rows = np.flatnonzero(np.asarray(column.is_valid()))
        if len(rows) == 0:
            why = f"no sampled row has a value in {probe.column!r}; nothing was checked"
            return ProbeResult(
                name, "directional", False, 0, 0, None, f"probe {name!r} failed: {why}"
            )
        sub = self.sample.take(pa.array(rows))
        moved = pc.add(sub.column(probe.column).cast(pa.float64()), probe.delta)
        if pa.types.is_integer(column.type) and float(probe.delta).is_integer():
            moved = moved.cast(column.type)
        sub = sub.set_column(sub.schema.get_field_index(probe.column), probe.column, moved)
        labels = None if self.labels is None else self.labels[rows]
        after = _score(self.task, self._call(sub), labels)
        before = self.before[rows]
        # The move the expected way: negative is the wrong way; NaN on one side is the worst.
        right = (1.0 if probe.expect == "increase" else -1.0) * (after - before)
        right = np.where(np.isnan(before) & np.isnan(after), 0.0, right)
        right = np.where(np.isnan(right), -np.inf, right)
        bad = int((right < -probe.tolerance).sum())
        j = int(np.argmin(right))
        worst = self._worst(int(rows[j]), before[j], after[j], delta=probe.delta)
        verb = "raised" if probe.expect == "decrease" else "lowered"
        skipped = self.sample.num_rows - len(rows)
        on = f"{len(rows)} rows" + (f" ({skipped} with it null skipped)" if skipped else "")
        text = f"adding {probe.delta:g} to {probe.column!r} "
        if not bad:
            text += f"never {verb} the score by more than {probe.tolerance:g} on {on}"
        else:
            text += (
                f"{verb} the score by more than {probe.tolerance:g} on {bad} of {on} (expected"
                f" an {probe.expect}); worst: {_where(worst)}:"
                f" {_num(worst['before'])} -> {_num(worst['after'])}"
            )
        return _result(name, "directional", len(rows), bad, worst, text)

    def fixed(self, cases: Sequence[FixedCase], schema: pa.Schema) -> list[ProbeResult]:
        """One row per case: its ``input``, and the sample's most frequent value elsewhere.

        Not null in the columns a case leaves out: a server refuses nulls in a
        feature that had none in training.
        """
        columns: dict[str, list[pa.Array]] = {f.name: [] for f in schema}
        typical = {f.name: _seen(self.sample.column(f.name))[:1] for f in schema}
        for index, case in enumerate(cases):
            where = f"monitor.probes.fixed[{index}].input"
            for name in case.input:
                if name not in columns:
                    hint = _hint(name, schema.names)
                    raise ConfigError(f"unknown column {name!r}{hint}", field=where)
            for f in schema:
                value = (
                    case.input[f.name] if f.name in case.input else (typical[f.name] or [None])[0]
                )
                columns[f.name].append(_constant(value, 1, f.type, f"{where}.{f.name}"))
        arrays = {name: pa.concat_arrays(parts) for name, parts in columns.items()}
        out = self._call(pa.table(arrays, schema=schema))
        labels = _labels(out) if "label" in out.column_names else None
        return [self._case(i, case, out.slice(i, 1), labels) for i, case in enumerate(cases)]

    def _case(
        self, index: int, case: FixedCase, out: pa.Table, labels: np.ndarray | None
    ) -> ProbeResult:
        name = case.name or f"fixed[{index}]"
        got = None if labels is None or self.task == "regression" else labels[index].item()
        wanted = None
        if self.task == "multiclass":  # the expected label's probability, else the best one's
            wanted = np.array([got if case.expect is None else case.expect], dtype=np.int64)
        score = float(_score(self.task, out, wanted)[0])
        problems, meets = [], []
        if case.expect is not None:
            meets.append(f"expected {case.expect!r}")
            if self.task == "regression":
                same = math.isclose(score, float(case.expect), rel_tol=1e-9, abs_tol=1e-9)
                if not same:
                    problems.append(f"got {_num(score)}, expected {case.expect!r}")
            elif got != case.expect:
                problems.append(f"got label {got!r}, expected {case.expect!r}")
        if case.min is not None:
            meets.append(f">= {case.min:g}")
            if not score >= case.min:
                problems.append(f"the score {_num(score)} is below the minimum {case.min:g}")
        if case.max is not None:
            meets.append(f"<= {case.max:g}")
            if not score <= case.max:
                problems.append(f"the score {_num(score)} is above the maximum {case.max:g}")
        worst = {"row": None, "after": score, "label": got}
        text = "; ".join(problems) or f"score {_num(score)} meets {', '.join(meets)}"
        return _result(name, "fixed", 1, 1 if problems else 0, worst, text)


def _result(
    name: str, kind: Kind, checked: int, failures: int, worst: dict[str, Any], text: str
) -> ProbeResult:
    outcome = "failed" if failures else "passed"
    message = f"probe {name!r} {outcome}: {text}"
    return ProbeResult(name, kind, not failures, checked, failures, worst, message)


# -- scores and values ------------------------------------------------------------------


def _floats(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    values = pc.fill_null(array.cast(pa.float64()), math.nan)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _labels(out: pa.Table) -> np.ndarray:
    return np.asarray(pc.fill_null(out.column("label").cast(pa.int64()), -1).to_numpy())


def _score(task: str, out: pa.Table, labels: np.ndarray | None) -> np.ndarray:
    """The compared score of each output row (see the module docstring)."""
    if task == "binary":
        return _floats(out.column("probability"))
    if task == "regression":
        return _floats(out.column("prediction"))
    probs = out.column("probabilities").combine_chunks()
    k = len(probs[0]) if len(probs) else 0
    matrix = _floats(pc.list_flatten(probs)).reshape(len(probs), k)
    chosen = _labels(out) if labels is None else labels
    safe = np.clip(chosen, 0, max(k - 1, 0))
    score = matrix[np.arange(len(probs)), safe]
    return np.where((chosen < 0) | (chosen >= k), math.nan, score)


def _change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """|after - before|, 0 where both are NaN and infinite where one is."""
    change = np.abs(after - before)
    both = np.isnan(after) & np.isnan(before)
    return np.where(both, 0.0, np.where(np.isnan(change), np.inf, change))


def _column(table: pa.Table, name: str, where: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise ConfigError(
            f"column {name!r} is not in the probed rows{_hint(name, table.column_names)}",
            field=where,
        )
    return table.column(name)


def _seen(column: pa.ChunkedArray) -> list[Any]:
    """The column's most frequent non-null values, at most :data:`MAX_SEEN_VALUES`."""
    counts = pc.value_counts(column.drop_null())
    values, freq = counts.field("values").to_pylist(), counts.field("counts").to_pylist()
    order = sorted(range(len(values)), key=lambda i: -freq[i])  # stable: first seen first
    return [values[i] for i in order[:MAX_SEEN_VALUES]]


def _constant(value: Any, n: int, type_: pa.DataType, where: str) -> pa.Array:
    """``value`` repeated ``n`` times as ``type_``."""
    try:
        return pa.array([value] * n, type=type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        pass
    try:
        return pa.array([value] * n).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"{value!r} cannot be read as {type_}: {exc}", field=where) from None


def _hint(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; it has {', '.join(names[:20])}"


def _where(worst: dict[str, Any]) -> str:
    return f"row {worst['row']}" + (f" ({worst['key']})" if worst.get("key") is not None else "")


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "null"
    return f"{float(x):.4g}"


def _json(value: Any) -> Any:
    """A JSON value: NaN and infinities as None, dates and times as ISO text, others as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# -- a live endpoint ---------------------------------------------------------------------


def endpoint_predictor(
    url: str,
    model: str,
    *,
    token: str | None = None,
    batch_rows: int = 500,
    timeout: float = 60.0,
) -> tuple[Predict, str, list[str]]:
    """A ``predict`` function that asks a running ``shipyard serve`` for ``model``'s predictions.

    Reads the model's signature first (``GET /v2/models/NAME``): columns it
    does not take are dropped from the rows sent, and its outputs give the task.

    Parameters
    ----------
    url
        The server's base URL, e.g. ``http://127.0.0.1:8080``.
    model
        The served model's name.
    token
        A bearer token, when the server requires one.
    batch_rows
        Rows per ``POST /models/NAME/predict`` (within the server's ``limits.max_rows``).

    Returns
    -------
    predict, task, required
        The function, the model's task, and the input columns it refuses nulls in.

    Raises
    ------
    EndpointError
        The server cannot be reached, or answers with an error (its status and message named).
    """
    base = url.rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"expected an http:// or https:// URL with a host; got {url!r}")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    meta = _http("GET", f"{base}/v2/models/{model}", None, headers, timeout)
    inputs = [str(i["name"]) for i in meta.get("inputs", [])]
    required = [
        str(i["name"])
        for i in meta.get("inputs", [])
        if not (i.get("parameters") or {}).get("nullable", True)
    ]
    outputs = {str(o["name"]) for o in meta.get("outputs", [])}
    task = (
        "binary"
        if "probability" in outputs
        else "multiclass"
        if "probabilities" in outputs
        else "regression"
    )

    def predict(table: pa.Table) -> pa.Table:
        keep = [c for c in table.column_names if c in inputs]
        answers: list[dict[str, Any]] = []
        for start in range(0, table.num_rows, batch_rows):
            records = table.select(keep).slice(start, batch_rows).to_pylist()
            body = {"records": [{k: _plain(v) for k, v in r.items()} for r in records]}
            answer = _http("POST", f"{base}/models/{model}/predict", body, headers, timeout)
            answers.extend(answer["predictions"])
        if not answers:
            return pa.table({})
        return pa.Table.from_pylist(answers)

    return predict, task, required


def _plain(value: Any) -> Any:
    """A JSON value: NaN as null, dates and times as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _http(
    method: str, url: str, body: Any, headers: dict[str, str], timeout: float
) -> dict[str, Any]:
    data = None if body is None else json.dumps(body, allow_nan=False, default=str).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - checked: http(s)
    for name, value in {**headers, "Content-Type": "application/json"}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(detail).get("error", detail))
        raise EndpointError(f"{method} {url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointError(f"cannot reach {url}: {reason}") from None
