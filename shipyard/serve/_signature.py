"""Requests checked against a bundle's input signature, before the model sees anything.

Every protocol turns its payload into columns (feature name to values) and
calls :meth:`Signature.columns`; it returns one typed Arrow array per feature
or raises :class:`RequestError` naming the feature and what was expected.
The policy (docs/serving.md):

- every feature of the signature, and no other, must be there; a misspelled
  name gets the closest valid one suggested;
- numbers must be JSON numbers (booleans read as 0/1), text must be strings;
  integer features refuse fractions;
- null (or NaN from a binary tensor) means missing and is accepted only for
  features the signature marks nullable; Infinity is refused everywhere;
- messages name the feature, never echo the payload or the whole schema.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from ..errors import RequestError
from ..transform._inputs import _cast, _from_python

__all__ = ["Checked", "Signature", "shown"]

_MAX_SHOWN = 64
_NUMBER_TYPES = frozenset({int, float, bool, type(None)})

Checked: TypeAlias = "dict[str, pa.Array] | np.ndarray"
"""A checked request: typed columns, or a float64 matrix in signature order (all-numeric)."""


def shown(name: object) -> str:
    """A name from a request, quoted and cut short, for an error message."""
    text = str(name)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return repr(text)


def _numeric(type_: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
    )


class Signature:
    """A bundle's input signature: names, Arrow types and nullable flags, in order.

    Parameters
    ----------
    fields
        The bundle's ``input_signature``: ``{"name", "type", "nullable"}`` each.
    schema
        The transform's input schema: the exact Arrow types of the same names.
    """

    def __init__(self, fields: Sequence[Mapping[str, Any]], schema: pa.Schema) -> None:
        self.names: list[str] = [str(f["name"]) for f in fields]
        self.nullable = {str(f["name"]): bool(f.get("nullable", True)) for f in fields}
        self.types: dict[str, pa.DataType] = {}
        for name in self.names:
            index = schema.get_field_index(name)
            self.types[name] = schema.field(index).type if index >= 0 else pa.float64()
        self.name_set = frozenset(self.names)
        self._float64 = [self.types[n] == pa.float64() for n in self.names]
        self.all_numeric = all(_numeric(t) or pa.types.is_boolean(t) for t in self.types.values())
        # Features of an all-numeric signature whose values must be whole numbers or 0/1.
        self._exact = [
            (j, "int" if pa.types.is_integer(self.types[n]) else "bool")
            for j, n in enumerate(self.names)
            if pa.types.is_integer(self.types[n]) or pa.types.is_boolean(self.types[n])
        ]

    def check_names(self, given: Collection[str]) -> None:
        """Refuse a set of feature names that is not exactly the signature's.

        Raises
        ------
        RequestError
            Naming a missing or an unknown feature (with the closest valid name).
        """
        present = set(given)
        if present == self.name_set:
            return
        extra = sorted(present - self.name_set, key=str)
        missing = [n for n in self.names if n not in present]
        if extra:
            pool = missing or self.names
            close = difflib.get_close_matches(str(extra[0]), pool, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RequestError(f"unknown feature {shown(extra[0])}{hint}")
        raise RequestError(
            f"missing feature {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )

    def column(self, name: str, values: Any) -> pa.Array:
        """One feature's values as its Arrow type, checked for type, missing values and Infinity."""
        type_ = self.types[name]
        try:
            if _numeric(type_) or pa.types.is_boolean(type_):
                array = self._number(name, values, type_)
            elif isinstance(values, list):
                array = self._other(name, values, type_)
            else:
                array = _cast(_from_python(values, type_, name), type_, name)
        except (ValueError, TypeError, pa.ArrowException) as exc:
            if isinstance(exc, RequestError):
                raise
            raise RequestError(
                f"feature {name!r}: the values cannot be read as {type_} ({type(exc).__name__})"
            ) from None
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if array.null_count and not self.nullable[name]:
            raise RequestError(
                f"feature {name!r} is not nullable: a value is missing (null or NaN)"
            )
        return array

    def _number(self, name: str, values: Any, type_: pa.DataType) -> pa.Array:
        if isinstance(values, np.ndarray):
            if values.dtype.kind not in "biuf":
                raise RequestError(f"feature {name!r} expects numbers; got {values.dtype} values")
            floats = values.astype(np.float64, copy=False)
        else:
            if not isinstance(values, list):
                raise RequestError(f"feature {name!r} expects a list of values")
            try:
                raw = pa.array(values, type=pa.float64())
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                raise RequestError(
                    f"feature {name!r} expects numbers ({type_}); got a value of another type"
                ) from None
            floats = raw.to_numpy(zero_copy_only=False)
        nan = np.isnan(floats)
        if np.isinf(floats).any():
            raise RequestError(f"feature {name!r}: Infinity is not accepted")
        mask = nan if nan.any() else None
        if mask is not None and not self.nullable[name]:
            raise RequestError(
                f"feature {name!r} is not nullable: a value is missing (null or NaN)"
            )
        if pa.types.is_floating(type_) or pa.types.is_decimal(type_):
            array = pa.array(floats, type=pa.float64(), mask=mask)
            return array if type_ == pa.float64() else _cast(array, type_, name)
        if pa.types.is_boolean(type_):
            ok = np.isin(floats[~nan], (0.0, 1.0)).all()
            if not ok:
                raise RequestError(f"feature {name!r} expects booleans (true/false or 0/1)")
            return pa.array(floats != 0, type=pa.bool_(), mask=mask)
        whole = floats[~nan]
        if (whole != np.floor(whole)).any():
            raise RequestError(f"feature {name!r} expects integers ({type_}); got a fraction")
        if len(whole) and (np.abs(whole) > 2.0**63).any():
            raise RequestError(f"feature {name!r}: a value is out of range for {type_}")
        filled = np.where(nan, 0.0, floats).astype(np.int64)
        return _cast(pa.array(filled, type=pa.int64(), mask=mask), type_, name)

    def _other(self, name: str, values: list[Any], type_: pa.DataType) -> pa.Array:
        if pa.types.is_string(type_) or pa.types.is_large_string(type_):
            if not all(v is None or type(v) is str for v in values):
                raise RequestError(f"feature {name!r} expects strings; got a value of another type")
            return pa.array(values, type=type_)
        if pa.types.is_temporal(type_) and not all(v is None or type(v) is str for v in values):
            raise RequestError(f"feature {name!r} expects ISO 8601 strings ({type_})")
        return _cast(_from_python(values, type_, name), type_, name)

    def columns(self, data: Mapping[str, Any]) -> tuple[dict[str, pa.Array], int]:
        """Check and convert columns (feature name to values); return them and the row count.

        Raises
        ------
        RequestError
            A missing, unknown or misspelled feature, a wrong type, a missing
            value in a feature that is not nullable, Infinity, or columns of
            different lengths.
        """
        self.check_names(data.keys())
        out: dict[str, pa.Array] = {}
        rows = -1
        for name in self.names:
            array = self.column(name, data[name])
            if rows < 0:
                rows = len(array)
            elif len(array) != rows:
                raise RequestError(
                    f"feature {name!r} has {len(array)} values and the first feature {rows};"
                    " every feature needs one value per row"
                )
            out[name] = array
        return out, max(rows, 0)

    def from_records(self, records: Any) -> tuple[Checked, int]:
        """Rows as objects (``[{feature: value}, ...]``) checked and turned into columns."""
        if not isinstance(records, list):
            raise RequestError("expected a list of records (JSON objects)")
        width = len(self.names)
        if self.all_numeric and all(type(r) is dict and len(r) == width for r in records):
            # The common case, checked cheaply: as many keys as features and every feature
            # there means exactly the features; a KeyError falls through to the messages.
            try:
                order = self.names
                return self.matrix([r[n] for r in records for n in order], len(records))
            except KeyError:
                pass
        names = self.name_set
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(f"record {i} is not a JSON object")
            if record.keys() != names:
                try:
                    self.check_names(record.keys())
                except RequestError as exc:
                    raise RequestError(f"record {i}: {exc}") from None
        if self.all_numeric:
            order = self.names
            return self.matrix([r[n] for r in records for n in order], len(records))
        data = {n: [r[n] for r in records] for n in self.names}
        return self.columns(data)

    def from_rows(self, rows: Any, columns: Sequence[str]) -> tuple[Checked, int]:
        """Rows as lists of values in the order of ``columns`` (a table's ``data``)."""
        if not isinstance(rows, list):
            raise RequestError("expected 'data' to be a list of rows")
        width = len(columns)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise RequestError(f"row {i} must be a list of {width} values, one per column")
        if len(set(columns)) != width:
            raise RequestError("a column is named twice")
        self.check_names(columns)
        if self.all_numeric:
            if list(columns) == self.names:
                return self.matrix([v for row in rows for v in row], len(rows))
            at = [list(columns).index(n) for n in self.names]
            return self.matrix([row[j] for row in rows for j in at], len(rows))
        data = {str(c): [row[j] for row in rows] for j, c in enumerate(columns)}
        return self.columns(data)

    def matrix(self, values: list[Any], rows: int) -> tuple[np.ndarray, int]:
        """Row-major values of an all-numeric signature as a checked float64 matrix."""
        if not set(map(type, values)) <= _NUMBER_TYPES:
            width = len(self.names)
            for k, v in enumerate(values):
                if type(v) not in _NUMBER_TYPES:
                    name = self.names[k % width]
                    raise RequestError(
                        f"feature {name!r} expects numbers ({self.types[name]}); got a value of"
                        " another type"
                    )
        try:
            flat = np.array(values, dtype=np.float64)
        except OverflowError:
            raise RequestError("a number is too large for a float64") from None
        matrix = flat.reshape(rows, len(self.names))
        self.check_matrix(matrix)
        return matrix, rows

    def check_matrix(self, matrix: np.ndarray) -> None:
        """Check a float64 matrix in signature order: Infinity, missing values, integers, booleans.

        Raises
        ------
        RequestError
            Naming the first feature that breaks the policy.
        """
        if not matrix.size:
            return
        inf = np.isinf(matrix).any(axis=0)
        if inf.any():
            raise RequestError(
                f"feature {self.names[int(np.argmax(inf))]!r}: Infinity is not accepted"
            )
        nan = np.isnan(matrix)
        missing = nan.any(axis=0)
        if missing.any():
            for index in np.flatnonzero(missing):
                if not self.nullable[self.names[index]]:
                    raise RequestError(
                        f"feature {self.names[index]!r} is not nullable: a value is missing"
                        " (null or NaN)"
                    )
        for j, kind in self._exact:
            column = matrix[:, j]
            column = column[~nan[:, j]]
            name = self.names[j]
            if kind == "int":
                if (column != np.floor(column)).any():
                    raise RequestError(
                        f"feature {name!r} expects integers ({self.types[name]}); got a fraction"
                    )
                if (np.abs(column) > 2.0**63).any():
                    raise RequestError(
                        f"feature {name!r}: a value is out of range for {self.types[name]}"
                    )
            elif not np.isin(column, (0.0, 1.0)).all():
                raise RequestError(f"feature {name!r} expects booleans (true/false or 0/1)")

    def matrix_columns(self, matrix: np.ndarray) -> dict[str, Any]:
        """A checked matrix as the transform's input: a NumPy column or a typed Arrow array each."""
        matrix = np.asfortranarray(matrix)
        out: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            column = matrix[:, j]
            if self._float64[j]:
                out[name] = column  # NaN is missing, as the transform reads it
                continue
            type_ = self.types[name]
            nan = np.isnan(column)
            mask = nan if nan.any() else None
            if pa.types.is_boolean(type_):
                out[name] = pa.array(column != 0, type=pa.bool_(), mask=mask)
            elif pa.types.is_integer(type_):
                whole = np.where(nan, 0.0, column).astype(np.int64)
                out[name] = _cast(pa.array(whole, type=pa.int64(), mask=mask), type_, name)
            else:
                out[name] = _cast(pa.array(column, type=pa.float64(), mask=mask), type_, name)
        return out
