"""How a step's return value becomes files in the artifact store, and back.

One materializer per type, picked by walking the value's class hierarchy.
Types are named by their fully qualified class names, so pyarrow, pandas or
scikit-learn are imported only when a value of theirs shows up. Every built-in
format is safe to load: Parquet, ``.npy`` without pickles, JSON, plain files,
and each framework's own model format. Pickle is used only when a step opts in
(``@step(allow_pickle=True)``); such artifacts are marked ``unsafe`` and load
only when the caller opts in again.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..errors import MaterializerError, UnsafeArtifactError
from ..store.artifacts import ArtifactStore, StoredArtifact

__all__ = [
    "Materializer",
    "Metrics",
    "load_value",
    "register_materializer",
    "save_value",
]


class Metrics(dict[str, float]):
    """A dict of metrics a step returns; each entry is also logged as a run metric."""


class Materializer(ABC):
    """Saves values of some types into a folder and loads them back."""

    name: ClassVar[str]
    types: ClassVar[tuple[str, ...]]  # "package.Class" (top-level package), matched along the MRO
    unsafe: ClassVar[bool] = False

    @abstractmethod
    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        """Write ``value`` under ``folder``; return JSON-able properties (shape, rows ...)."""

    @abstractmethod
    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        """Read the value back from ``folder``."""


def _json_check(value: Any, path: str = "value") -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MaterializerError(
                f"{path} is {value}, which JSON cannot hold; return a NumPy array for NaN/inf"
            )
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _json_check(v, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise MaterializerError(f"{path} has a non-string key {k!r}; JSON keys are strings")
            _json_check(v, f"{path}[{k!r}]")
        return
    raise MaterializerError(f"{path} is a {type(value).__name__}, which JSON cannot hold")


class JsonMaterializer(Materializer):
    name = "json"
    types: ClassVar[tuple[str, ...]] = (
        "builtins.NoneType", "builtins.bool", "builtins.int", "builtins.float",
        "builtins.str", "builtins.list", "builtins.tuple", "builtins.dict",
    )  # fmt: skip

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        _json_check(value)
        (folder / "value.json").write_text(json.dumps(value, sort_keys=True))
        return {}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        value = json.loads((folder / "value.json").read_text())
        if python_type == "builtins.tuple":
            return tuple(value)
        if python_type == f"{Metrics.__module__}.Metrics":
            return Metrics(value)
        return value


class NumpyScalarMaterializer(JsonMaterializer):
    name = "numpy.scalar"
    types: ClassVar[tuple[str, ...]] = ("numpy.generic",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        (folder / "value.json").write_text(json.dumps(value.item()))
        return {"dtype": str(value.dtype)}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import numpy as np

        return np.dtype(properties["dtype"]).type(json.loads((folder / "value.json").read_text()))


class NumpyMaterializer(Materializer):
    name = "numpy.ndarray"
    types = ("numpy.ndarray",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        import numpy as np

        if value.dtype.hasobject:
            raise MaterializerError(
                "a NumPy array of dtype object cannot be stored without pickle;"
                " convert it to a typed array or a pyarrow Table"
            )
        np.save(folder / "array.npy", value, allow_pickle=False)
        return {"shape": list(value.shape), "dtype": str(value.dtype)}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import numpy as np

        return np.load(folder / "array.npy", allow_pickle=False)


class ArrowTableMaterializer(Materializer):
    name = "arrow.table"
    types = ("pyarrow.Table", "pyarrow.RecordBatch")

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if isinstance(value, pa.RecordBatch):
            value = pa.Table.from_batches([value])
        pq.write_table(value, folder / "data.parquet")
        return {"rows": value.num_rows, "columns": value.column_names}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(folder / "data.parquet")


class PandasMaterializer(Materializer):
    name = "pandas.dataframe"
    types = ("pandas.DataFrame",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(value), folder / "data.parquet")
        return {"rows": len(value), "columns": [str(c) for c in value.columns]}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(folder / "data.parquet").to_pandas()


class PathMaterializer(Materializer):
    """A file or a folder, copied in; loads back as the stored (read-only) path."""

    name = "path"
    types = ("pathlib.PurePath",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        src = Path(value)
        if src.is_dir():
            shutil.copytree(src, folder / "dir", symlinks=False)
            return {"kind": "dir", "name": src.name}
        if src.is_file():
            (folder / "file").mkdir()
            shutil.copy2(src, folder / "file" / src.name)
            return {"kind": "file", "name": src.name}
        raise MaterializerError(f"the step returned the path {src}, which does not exist")

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        if properties["kind"] == "dir":
            return folder / "dir"
        return folder / "file" / properties["name"]


class SklearnMaterializer(Materializer):
    """scikit-learn estimators through skops, which loads without running pickle."""

    name = "sklearn.skops"
    types = ("sklearn.BaseEstimator",)
    _TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        import skops.io as sio

        (folder / "model.skops").write_bytes(_deterministic_skops(sio.dumps(value)))
        return {"estimator": f"{type(value).__module__}.{type(value).__qualname__}"}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import skops.io as sio

        path = folder / "model.skops"
        untrusted = sio.get_untrusted_types(file=path)
        refused = [u for u in untrusted if not u.startswith(self._TRUSTED_PREFIXES)]
        if refused:
            raise UnsafeArtifactError(
                f"the skops file {path.name} holds types outside scikit-learn/NumPy/SciPy: {refused}"
            )
        return sio.load(path, trusted=untrusted)


def _deterministic_skops(data: bytes) -> bytes:
    """The same model as the same bytes, so that a replayed run reproduces its digest.

    skops names array files and ``__id__`` fields after ``id()`` of live objects and
    stamps zip entries with the current time. Both are renumbered in the schema's
    own order and the stamps fixed; the loader reads names from the schema, so the
    file loads as before (a test round-trips predictions).
    """
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    mapping: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for k, v in node.items():
                if k == "__id__" and isinstance(v, int):
                    out[k] = int(mapping.setdefault(str(v), str(len(mapping) + 1)))
                elif k == "file" and isinstance(v, str) and v.endswith(".npy"):
                    out[k] = mapping.setdefault(v[:-4], str(len(mapping) + 1)) + ".npy"
                else:
                    out[k] = renumber(v)
            return out
        if isinstance(node, list):
            return [renumber(v) for v in node]
        return node

    entries = {"schema.json": json.dumps(renumber(schema), indent=2).encode()}
    for name in src.namelist():
        if name == "schema.json":
            continue
        if not name.endswith(".npy") or name[:-4] not in mapping:
            return data  # a layout we do not know: keep skops' own bytes
        entries[mapping[name[:-4]] + ".npy"] = src.read(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, entries[name])
    return buf.getvalue()


class XGBoostMaterializer(Materializer):
    name = "xgboost.ubj"
    types = ("xgboost.Booster", "xgboost.XGBModel")

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        value.save_model(folder / "model.ubj")
        return {"class": f"{type(value).__module__}.{type(value).__qualname__}"}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import xgboost

        cls_name = properties["class"].rsplit(".", 1)[-1]
        cls = getattr(xgboost, cls_name, None)
        if cls is None or not isinstance(cls, type):
            raise MaterializerError(f"unknown XGBoost class {properties['class']!r}")
        model = cls()
        model.load_model(folder / "model.ubj")
        return model


class LightGBMMaterializer(Materializer):
    name = "lightgbm.text"
    types = ("lightgbm.Booster",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        value.save_model(str(folder / "model.txt"))
        return {}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import lightgbm

        return lightgbm.Booster(model_file=str(folder / "model.txt"))


class PickleMaterializer(Materializer):
    """The opt-in fallback for types with no safe format. Loading it can run code."""

    name = "pickle"
    types = ("builtins.object",)
    unsafe = True

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        import pickle

        (folder / "value.pkl").write_bytes(pickle.dumps(value, protocol=5))
        return {}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        import pickle

        return pickle.loads((folder / "value.pkl").read_bytes())  # noqa: S301 - opted in


_REGISTRY: list[Materializer] = [
    JsonMaterializer(),
    NumpyScalarMaterializer(),
    NumpyMaterializer(),
    ArrowTableMaterializer(),
    PandasMaterializer(),
    PathMaterializer(),
    SklearnMaterializer(),
    XGBoostMaterializer(),
    LightGBMMaterializer(),
]
_PICKLE = PickleMaterializer()


# Materializers of Shipyard's own artifact types live beside those types (validate/,
# transform/, registry/ ...) and are imported only when a value or artifact needs them:
# name -> ("module:Class", the "package.Class" type names it handles).
LAZY_BUILTINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dataset": ("shipyard.data.dataset:DatasetMaterializer", ("shipyard.Dataset",)),
    "statistics": (
        "shipyard.validate.stats:StatisticsMaterializer",
        ("shipyard.Statistics", "shipyard.DatasetStatistics"),
    ),
    "shipyard.schema": (
        "shipyard.validate._schema_materializers:SchemaMaterializer",
        ("shipyard.Schema",),
    ),
    "shipyard.anomalies": (
        "shipyard.validate._schema_materializers:AnomaliesMaterializer",
        ("shipyard.Anomalies",),
    ),
    "shipyard.transform": (
        "shipyard.transform._materializer:TransformMaterializer",
        ("shipyard.FittedTransform",),
    ),
    "shipyard.trained_model": (
        "shipyard.train.model:TrainedModelMaterializer",
        ("shipyard.TrainedModel",),
    ),
    "shipyard.torch_model": (
        "shipyard.train.torch_model:TorchModelMaterializer",
        ("shipyard.TorchModel",),
    ),
    "shipyard.bundle": ("shipyard.bundle.bundle:BundleMaterializer", ("shipyard.Bundle",)),
}


@functools.cache
def _lazy(name: str) -> Materializer:
    module, _, cls = LAZY_BUILTINS[name][0].partition(":")
    m: Materializer = getattr(importlib.import_module(module), cls)()
    return m


def register_materializer(materializer: Materializer) -> None:
    """Add a materializer; it takes precedence over the built-in ones for its types."""
    _REGISTRY.insert(0, materializer)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def pick(value: Any, *, allow_pickle: bool = False) -> Materializer:
    """The materializer for ``value``: the most specific class along its MRO wins."""
    _load_entry_points()
    for cls in type(value).__mro__:
        # The top-level package, not the defining module: pandas 3 moved DataFrame out of
        # pandas.core.frame, and such moves must not change which materializer is picked.
        name = f"{cls.__module__.partition('.')[0]}.{cls.__qualname__}"
        for m in _REGISTRY:
            if name in m.types:
                return m
        for lazy_name, (_, types) in LAZY_BUILTINS.items():
            if name in types:
                return _lazy(lazy_name)
    if allow_pickle:
        return _PICKLE
    raise MaterializerError(
        f"no safe format for a value of type {_qualname(type(value))}; return a supported type"
        " (pyarrow.Table, pandas.DataFrame, numpy.ndarray, JSON-able values, pathlib.Path, a"
        " scikit-learn/XGBoost/LightGBM model), register a Materializer, or opt in to pickle"
        " with @step(allow_pickle=True)"
    )


def _by_name(name: str) -> Materializer:
    _load_entry_points()
    if name == _PICKLE.name:
        return _PICKLE
    for m in _REGISTRY:
        if m.name == name:
            return m
    if name in LAZY_BUILTINS:
        return _lazy(name)
    raise MaterializerError(f"no materializer named {name!r} is registered to read this artifact")


def save_value(value: Any, store: ArtifactStore, *, allow_pickle: bool = False) -> dict[str, Any]:
    """Store ``value``; return the artifact's record (digest, type, python_type, uri, size ...)."""
    m = pick(value, allow_pickle=allow_pickle)
    python_type = _qualname(type(value))
    with store.staging() as folder:
        properties = m.save(value, folder)
        meta: dict[str, Any] = {
            "type": m.name,
            "python_type": python_type,
            "properties": properties,
        }
        if m.unsafe:
            meta["unsafe"] = True
        stored: StoredArtifact = store.put(folder, meta)
    return {
        "digest": stored.digest,
        "type": m.name,
        "python_type": python_type,
        "uri": stored.uri,
        "size": stored.size,
        "properties": properties,
        "unsafe": m.unsafe,
    }


def load_value(digest: str, store: ArtifactStore, *, allow_pickle: bool = False) -> Any:
    """Load an artifact back as the object it was. Its files are checked against their digests."""
    folder = store.path(digest)
    manifest = store.manifest(digest)
    if manifest.get("unsafe") and not allow_pickle:
        raise UnsafeArtifactError(
            f"artifact {digest[:12]} is a pickle ({manifest.get('python_type')}); loading it can run"
            " code, so pass allow_pickle=True only if you trust where it came from"
        )
    m = _by_name(manifest["type"])
    return m.load(folder, manifest.get("properties", {}), manifest.get("python_type", ""))


@functools.cache
def _load_entry_points(group: str = "shipyard.materializers") -> None:
    """Entry points let third-party packages add materializers without an import here."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        factory: Callable[[], Materializer] = ep.load()
        register_materializer(factory())
