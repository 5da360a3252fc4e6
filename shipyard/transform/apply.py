"""The one function that applies a fitted transform: training, batch prediction and the server.

:func:`apply_transform` takes a fitted transform (a :class:`FittedTransform`,
its dict, or a :class:`CompiledTransform`) and a batch (an Arrow record batch
or table, or a mapping of column name to values) and returns a 2-D float32
NumPy array, one row per input row and one column per feature name. Every
path that turns rows into features calls it, so training and serving cannot
drift apart: a test checks they give bit-identical features.

This module imports NumPy, pyarrow and the standard library only, so that the
model server stays small and starts fast.

Example
-------
>>> fitted = FittedTransform.from_dict(spec)            # doctest: +SKIP
>>> x = fitted.apply({"distance": [1089.0], "carrier": ["UA"]})  # doctest: +SKIP
>>> x.shape, x.dtype                                     # doctest: +SKIP
((1, 12), dtype('float32'))
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ._inputs import coerce
from ._steps import Context, FeatureRuntime

__all__ = ["FORMAT", "CompiledTransform", "FittedTransform", "apply_transform"]

FORMAT = 1
"""Version of the saved form; :meth:`FittedTransform.from_dict` reads this one only."""

F32 = npt.NDArray[np.float32]
_BLOCK = 8192  # rows per block of the final transpose


def schema_to_text(schema: pa.Schema) -> str:
    """The Arrow schema as base64 Arrow IPC: exact types (units, zones, dictionaries), no pickle."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_text(text: str) -> pa.Schema:
    """The inverse of :func:`schema_to_text`."""
    schema: pa.Schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
    return schema


class CompiledTransform:
    """A fitted transform made ready to apply: kernels built, lookup tables in memory.

    Build it once and apply it many times (``FittedTransform`` keeps one).

    Parameters
    ----------
    spec
        The saved form, :meth:`FittedTransform.to_dict`.

    Raises
    ------
    ValueError
        If ``spec`` is not a fitted transform of a format this version reads.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if not isinstance(spec, Mapping) or spec.get("format") != FORMAT:
            found = spec.get("format") if isinstance(spec, Mapping) else type(spec).__name__
            raise ValueError(
                f"not a fitted transform of format {FORMAT} (found format {found!r}); it may"
                " come from another Shipyard version"
            )
        self.schema = schema_from_text(spec["input_schema"])
        self.features = [FeatureRuntime(f) for f in spec["features"]]
        self.feature_names: list[str] = list(spec["feature_names"])
        self.width = sum(f.width for f in self.features)
        if self.width != len(self.feature_names):
            raise ValueError(
                f"the transform's features make {self.width} columns, but it names"
                f" {len(self.feature_names)}; the saved transform is inconsistent"
            )
        # Every feature a float64 input column written as it comes (the server's usual case):
        # float64 NumPy columns then become the features in one copy (see _numbers_of).
        self.numbers: list[str] | None = None
        """The input columns, in feature order, when every feature is a float64 column passed
        through unchanged (the transform of ``register_model``); None otherwise."""
        names = self.schema.names
        if (
            self.features
            and all(f.passthrough and f.name in names for f in self.features)
            and all(self.schema.field(f.name).type == pa.float64() for f in self.features)
        ):
            self.numbers = [f.name for f in self.features]

    def __call__(
        self,
        batch: Any,
        *,
        training_rows: npt.ArrayLike | None = None,
        order: Literal["C", "F"] = "C",
    ) -> F32:
        if self.numbers is not None and training_rows is None and isinstance(batch, Mapping):
            numbers = self._numbers_of(batch)
            if numbers is not None:
                return self._rows(np.array(numbers, dtype=np.float32), order)
        columns, rows = coerce(batch, self.schema)
        ctx = Context()
        if training_rows is not None:
            ctx.rows = np.asarray(training_rows, dtype=np.int64)
            if ctx.rows.shape != (rows,):
                raise ValueError(
                    f"training_rows has shape {ctx.rows.shape}; expected one row number per"
                    f" row of the batch, ({rows},)"
                )
        # Features x rows, zeros (one-hot blocks only set their ones): each feature writes
        # contiguous rows. The transpose to rows x features is one blocked copy at the end.
        by_feature = np.zeros((self.width, rows), dtype=np.float32)
        start = 0
        for feature in self.features:
            feature.write(columns, by_feature, start, ctx)
            start += feature.width
        return self._rows(by_feature, order)

    def _numbers_of(self, batch: Mapping[str, Any]) -> list[np.ndarray] | None:
        """The float64 NumPy columns of a transform of pass-through numbers; None: another case.

        Anything else (a missing column, Arrow or lists, other lengths) goes the general way,
        which gives the same features or the error messages.
        """
        assert self.numbers is not None
        columns = []
        rows = -1
        for name in self.numbers:
            column = batch.get(name)
            if type(column) is not np.ndarray or column.dtype != np.float64 or column.ndim != 1:
                return None
            if rows < 0:
                rows = len(column)
            elif len(column) != rows:
                return None
            columns.append(column)
        return columns

    def _rows(self, by_feature: F32, order: Literal["C", "F"]) -> F32:
        """A features x rows array as rows x features, in ``order``."""
        if order == "F":
            return by_feature.T
        rows = by_feature.shape[1]
        out = np.empty((rows, self.width), dtype=np.float32)
        for first in range(0, rows, _BLOCK):
            # Blocks that fit in the cache: a whole-array transpose runs twice as long.
            out[first : first + _BLOCK] = by_feature[:, first : first + _BLOCK].T
        return out


def apply_transform(
    fitted: FittedTransform | CompiledTransform | Mapping[str, Any],
    batch: pa.RecordBatch | pa.Table | Mapping[str, Any],
    *,
    training_rows: npt.ArrayLike | None = None,
    order: Literal["C", "F"] = "C",
) -> F32:
    """Features of ``batch`` as a float32 array of shape (rows, features).

    Missing values are NaN unless the feature imputes them (one-hot columns are
    all zero for them); out-of-vocabulary values go to the OOV bucket.

    Parameters
    ----------
    fitted
        The transform. A dict is compiled on every call; pass a
        :class:`FittedTransform` or :class:`CompiledTransform` to compile once.
    batch
        An Arrow ``RecordBatch`` or ``Table``, or a mapping of column name to a
        list of Python values (JSON-decoded rows), a NumPy array or an Arrow
        array. Columns are cast to the input signature (``input_schema``);
        other columns are ignored.
    training_rows
        Only for the rows of the split the transform was fitted on, while
        training: each row's position in that split (0-based, in the order of
        ``Dataset.batches``). Target encodings then use out-of-fold means, so
        that no row sees its own target. Leave it out everywhere else.
    order
        ``C``: the result is C-contiguous (rows are contiguous), as most libraries
        want. ``F``: column-contiguous, which skips a transpose (faster on large
        batches; LightGBM and scikit-learn take it without a copy).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(rows, len(feature_names))``; the values do not depend on ``order``.

    Raises
    ------
    ValueError
        An input column is missing, or its values cannot be read as its type;
        the message names the column.
    """
    if isinstance(fitted, CompiledTransform):
        compiled = fitted
    elif isinstance(fitted, FittedTransform):
        compiled = fitted.compiled
    else:
        compiled = CompiledTransform(fitted)
    return compiled(batch, training_rows=training_rows, order=order)


class FittedTransform:
    """A fitted transform: pure data (JSON-able), applied by :func:`apply_transform`.

    Build one with :func:`shipyard.transform.fit_transform`, or load one with
    :meth:`from_dict`. The saved form is ``{"format": 1, "features": [...],
    "feature_names": [...], "inputs": [...], "input_schema": ..., ...}``; each
    feature lists its ops with their parameters and fitted values.

    Parameters
    ----------
    spec
        The saved form (checked when first applied, or by :meth:`from_dict`).
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._spec: dict[str, Any] = copy.deepcopy(dict(spec))
        self._compiled: CompiledTransform | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> FittedTransform:
        """Load the saved form, checking it compiles.

        Raises
        ------
        ValueError
            If ``spec`` is not a fitted transform this version reads.
        """
        fitted = cls(spec)
        fitted._compiled = CompiledTransform(fitted._spec)
        return fitted

    def to_dict(self) -> dict[str, Any]:
        """The saved form: JSON-able, no NaN (a copy; changing it changes nothing here)."""
        return copy.deepcopy(self._spec)

    def to_json(self) -> str:
        """The saved form as JSON text, keys sorted: the same transform gives the same bytes."""
        return json.dumps(self._spec, sort_keys=True, allow_nan=False, separators=(",", ":"))

    @property
    def compiled(self) -> CompiledTransform:
        """The compiled form, built on first use."""
        if self._compiled is None:
            self._compiled = CompiledTransform(self._spec)
        return self._compiled

    @property
    def feature_names(self) -> list[str]:
        """The output columns' names, in order."""
        return list(self._spec["feature_names"])

    @property
    def input_columns(self) -> list[str]:
        """The input columns read, in the data's order."""
        return [i["name"] for i in self._spec["inputs"]]

    @property
    def input_schema(self) -> pa.Schema:
        """The input signature: the input columns with their Arrow types."""
        return self.compiled.schema

    @property
    def fit_split(self) -> str | None:
        """The split the transform was fitted on (usually ``train``)."""
        split: str | None = self._spec.get("fit", {}).get("split")
        return split

    def apply(
        self,
        batch: pa.RecordBatch | pa.Table | Mapping[str, Any],
        *,
        training_rows: npt.ArrayLike | None = None,
        order: Literal["C", "F"] = "C",
    ) -> F32:
        """:func:`apply_transform` of this transform (see there)."""
        return self.compiled(batch, training_rows=training_rows, order=order)

    def iter_features(
        self,
        dataset: Any,
        split: str,
        *,
        batch_size: int = 65_536,
        out_of_fold: bool | None = None,
    ) -> Iterator[tuple[F32, pa.RecordBatch]]:
        """The training path: features of each batch of a Dataset split, with the batch.

        The batch comes along so that the caller can read the target (and
        weights) of the same rows.

        Parameters
        ----------
        dataset
            A :class:`shipyard.data.Dataset` (anything with ``batches(split, batch_size=)``).
        split
            The split to read.
        out_of_fold
            Target encodings out of fold (see ``training_rows`` of
            :func:`apply_transform`); None: when ``split`` is the fitted split.
        """
        if out_of_fold is None:
            out_of_fold = split == self.fit_split
        offset = 0
        for batch in dataset.batches(split, batch_size=batch_size):
            rows = np.arange(offset, offset + batch.num_rows) if out_of_fold else None
            yield self.compiled(batch, training_rows=rows), batch
            offset += batch.num_rows

    def __repr__(self) -> str:
        names = self._spec.get("feature_names", [])
        return (
            f"<FittedTransform {len(self._spec.get('inputs', []))} inputs -> {len(names)} features>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FittedTransform) and self._spec == other._spec

    __hash__ = None  # type: ignore[assignment]
