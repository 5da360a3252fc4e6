"""A served model: a loaded bundle, its version, its signature and its thread budget."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa

from ..bundle import Bundle, output_table
from ._signature import Checked, Signature

__all__ = ["ServedModel", "threads_per_worker"]

_DTYPES = {
    "double": "FP64",
    "float": "FP32",
    "halffloat": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint64": "UINT64",
    "uint32": "UINT32",
    "uint16": "UINT16",
    "uint8": "UINT8",
    "bool": "BOOL",
}


def v2_datatype(arrow_type: str) -> str:
    """The Open Inference Protocol datatype of an Arrow type name (BYTES for text, times ...)."""
    return _DTYPES.get(arrow_type, "BYTES")


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(workers: int, override: int | None = None) -> int:
    """Threads for a model call in each worker process: the CPUs shared among the workers.

    XGBoost and LightGBM default to every CPU in every process; with two workers
    on two cores that is four busy threads fighting for two cores, and
    throughput collapses (issue 6 measured 2,760 -> 110 requests/s).
    """
    if override is not None:
        return max(1, override)
    return max(1, cpu_count() // max(1, workers))


class ServedModel:
    """A bundle ready to serve: name, version, signature, and the model limited to ``threads``.

    Parameters
    ----------
    bundle
        The loaded (verified) bundle.
    version
        The version named in every response (the registry's number, or the
        bundle's digest when served without a store).
    threads
        Threads of a model call (XGBoost ``nthread``; OpenMP reads
        ``OMP_NUM_THREADS``, which the server sets before loading).
    """

    def __init__(self, bundle: Bundle, version: str, *, threads: int = 1) -> None:
        self.bundle = bundle
        self.name = bundle.name
        self.version = version
        self.task = bundle.task
        self.signature = Signature(bundle.input_signature, bundle.transform.input_schema)
        self.outputs = bundle.output_signature
        self.classes = list(bundle.manifest.get("classes") or [])
        self.threads = threads
        model = bundle.model.model
        if bundle.model.framework == "xgboost" and hasattr(model, "set_param"):
            model.set_param({"nthread": threads})
        # Every feature a float64 input passed through, in the signature's order: a checked
        # matrix is then the model's input as it is (what the transform builds, in one cast).
        self.direct = bundle.transform.compiled.numbers == self.signature.names

    @property
    def framework(self) -> str:
        return str(self.bundle.manifest.get("framework", ""))

    def predict(self, parts: list[Checked]) -> pa.Table:
        """Predictions for the rows of several checked requests, in one model call."""
        sig = self.signature
        matrices = [p for p in parts if isinstance(p, np.ndarray)]
        if len(matrices) == len(parts):
            matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
            if self.direct:
                scores = np.asarray(self.bundle.model.predict(matrix.astype(np.float32)))
                return output_table(self.task, scores, threshold=self.bundle.threshold)
            return self.bundle.predict(sig.matrix_columns(matrix))
        dicts = [sig.matrix_columns(p) if isinstance(p, np.ndarray) else p for p in parts]
        if len(dicts) == 1:
            return self.bundle.predict(dicts[0])
        columns: dict[str, Any] = {}
        for n in sig.names:
            pieces = [d[n] if isinstance(d[n], pa.Array) else pa.array(d[n]) for d in dicts]
            columns[n] = pa.concat_arrays([x.cast(pieces[0].type) for x in pieces])
        return self.bundle.predict(columns)

    def empty(self) -> pa.Table:
        """The output of zero rows: the task's columns, no rows."""
        shape = (0, len(self.classes)) if self.task == "multiclass" else (0,)
        return output_table(self.task, np.empty(shape), threshold=self.bundle.threshold)

    def warm(self) -> None:
        """Predict the bundle's input example once, so the first request pays no set-up."""
        example = self.bundle.input_example()
        if not example:
            return
        try:
            columns, _ = self.signature.from_records(example)
        except ValueError:  # an example that no longer fits the signature: nothing to warm
            return
        self.predict([columns])
