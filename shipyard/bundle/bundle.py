"""Bundle format v1: a registered model as one portable, verified folder (docs/bundle.md).

A bundle holds everything a server or a batch job needs to predict, and
nothing that runs code on load: the model in its framework's safe format, the
fitted transform as JSON, statistics of the training data and of the model's
predictions on the eval split, an input example, a runtime lock and a
Containerfile. ``bundle.json`` lists the sha256 of every file; loading checks
them all before reading any.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from .. import __version__
from ..errors import ConfigError, MaterializerError, UnsafeArtifactError
from ..pipeline.materializers import Materializer
from ._files import (
    FORMAT,
    MANIFEST,
    copy_files,
    hash_files,
    python_version,
    read_manifest,
    runtime_lock,
    verify_files,
)
from .output import output_signature, output_table

if TYPE_CHECKING:
    from ..train.model import TrainedModel
    from ..transform import FittedTransform
    from ..validate.stats import DatasetStatistics

__all__ = ["Bundle", "BundleMaterializer", "load_bundle", "write_bundle"]

EXAMPLE_ROWS = 5
_MODEL_DIR = "model"
_TRANSFORM = "transform.json"
_TRAINING_STATS = "statistics/training.json"
_PREDICTION_STATS = "statistics/predictions.json"
_FEATURE_STATS = "statistics/features.json"
_EXAMPLE = "input_example.json"
_LOCK = "requirements.txt"
_CONTAINERFILE = "Containerfile"
SERVE_PORT = 8080


def _json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(value, indent=1, sort_keys=True, allow_nan=False, default=str) + "\n",
        encoding="utf-8",
    )


def _records(batch: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON values: dates and times as ISO text, NaN as null."""
    rows: list[dict[str, Any]] = batch.to_pylist()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, float) and not np.isfinite(v):
                row[k] = None
            elif hasattr(v, "isoformat"):
                row[k] = v.isoformat()
    return rows


def _signature(transform: FittedTransform, stats: DatasetStatistics | None) -> list[dict[str, Any]]:
    columns = stats.columns if stats is not None else {}
    out = []
    for field in transform.input_schema:
        col = columns.get(field.name)
        out.append(
            {
                "name": field.name,
                "type": str(field.type),
                # Nullable when the training data had missing values in the column.
                "nullable": bool(col.nulls) if col is not None else True,
            }
        )
    return out


def _stats_table(task: str, table: pa.Table) -> pa.Table:
    """Predictions as flat columns the statistics read (one per class for multiclass)."""
    if task != "multiclass":
        return table
    probs = table.column("probabilities").combine_chunks()
    k = len(probs[0]) if len(probs) else 0
    flat = probs.flatten().to_numpy(zero_copy_only=False).reshape(-1, k) if k else None
    columns: dict[str, Any] = {"label": table.column("label")}
    for i in range(k):
        columns[f"probability_{i}"] = flat[:, i] if flat is not None else []
    return pa.table(columns)


def _containerfile(name: str) -> str:
    return (
        f"# Serves the bundle {name} with Shipyard. Build: podman build -t {name} .\n"
        f"FROM python:{python_version()}-slim\n"
        "WORKDIR /bundle\n"
        f"COPY {_LOCK} /bundle/{_LOCK}\n"
        f"RUN pip install --no-cache-dir -r /bundle/{_LOCK}\n"
        "COPY . /bundle\n"
        "RUN useradd --system shipyard\n"
        "USER shipyard\n"
        f"EXPOSE {SERVE_PORT}\n"
        'CMD ["shipyard", "serve", "--bundle", "/bundle", "--host", "0.0.0.0",'
        f' "--port", "{SERVE_PORT}"]\n'
    )


def write_bundle(
    dest: str | os.PathLike[str],
    *,
    model: TrainedModel,
    transform: FittedTransform,
    name: str,
    threshold: float | None = None,
    training_statistics: DatasetStatistics | None = None,
    feature_statistics: DatasetStatistics | None = None,
    eval_batches: Iterable[pa.RecordBatch] = (),
    key: str | None = None,
    description: str = "",
    source: Mapping[str, Any] | None = None,
    gate: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write a bundle folder at ``dest`` (which must not exist), all or nothing.

    Parameters
    ----------
    model, transform
        The trained model and the fitted transform that feeds it.
    name
        The model's name (for the Containerfile and the server's docs).
    threshold
        The binary decision threshold chosen on the eval split.
    training_statistics
        Statistics of the training split's raw columns: the monitor's reference.
    feature_statistics
        Statistics of the training split's transformed features (the model's
        input matrix): the reference of the monitor's training-serving skew.
    eval_batches
        Raw batches of the eval split: the model predicts them to record the
        statistics of its predictions (the monitor's other reference), and the
        first rows become the input example.
    key
        The data's key column, carried through batch predictions.
    description, source, gate, metrics
        Recorded in the manifest: free text, where the model came from (a run,
        an import), the gate's verdict and the evaluation's metrics.

    Raises
    ------
    FileExistsError
        ``dest`` exists.
    """
    from ..pipeline.materializers import pick
    from ..train.model import TrainedModelMaterializer
    from ..validate.stats import DatasetStatistics

    target = Path(dest)
    if target.exists():
        raise FileExistsError(f"{target} exists; a bundle is written to a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        pick(model)  # a model without a safe format fails here, before anything is written
        (tmp / _MODEL_DIR).mkdir()
        TrainedModelMaterializer().save(model, tmp / _MODEL_DIR)
        (tmp / _TRANSFORM).write_text(transform.to_json() + "\n", encoding="utf-8")
        if training_statistics is not None:
            _json(tmp / _TRAINING_STATS, training_statistics.to_dict())
        if feature_statistics is not None:
            _json(tmp / _FEATURE_STATS, feature_statistics.to_dict())
        predictions = DatasetStatistics()
        example: list[dict[str, Any]] = []
        inputs = transform.input_columns
        for batch in eval_batches:
            if not example and batch.num_rows:
                example = _records(batch.select(inputs).slice(0, EXAMPLE_ROWS))
            scores = model.predict(transform.apply(batch))
            predictions.update(
                _stats_table(model.task, output_table(model.task, scores, threshold=threshold))
            )
        if predictions.num_rows:
            _json(tmp / _PREDICTION_STATS, predictions.to_dict())
        _json(tmp / _EXAMPLE, example)
        (tmp / _LOCK).write_text(
            "# The packages that load and serve this bundle, as pinned when it was written.\n"
            + "\n".join(runtime_lock(model.framework))
            + "\n",
            encoding="utf-8",
        )
        (tmp / _CONTAINERFILE).write_text(_containerfile(name), encoding="utf-8")
        classes = list(range(model.num_classes)) if model.num_classes else None
        manifest = {
            "format_version": FORMAT,
            "shipyard_version": __version__,
            "created_at": time.time(),
            "name": name,
            "description": description,
            "framework": model.framework,
            "framework_version": model.framework_version,
            "algorithm": model.algorithm,
            "task": model.task,
            "classes": classes,
            "threshold": threshold,
            "key": key,
            "input_signature": _signature(transform, training_statistics),
            "output_signature": output_signature(model.task, classes),
            "feature_names": list(model.feature_names),
            "transform_format": transform.to_dict().get("format"),
            "trusted_code": None,
            "python": python_version(),
            "source": dict(source or {}),
            "gate": dict(gate) if gate is not None else None,
            "metrics": dict(metrics or {}),
            "files": hash_files(tmp),
        }
        _json(tmp / MANIFEST, manifest)
        os.chmod(tmp, 0o755)  # noqa: S103 - mkdtemp makes 0700; a bundle is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


class Bundle:
    """A loaded bundle: verified files, the model and transform ready to predict.

    Build one with :func:`load_bundle`.
    """

    def __init__(
        self, path: Path, manifest: dict[str, Any], model: TrainedModel, transform: FittedTransform
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.model = model
        self.transform = transform

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", ""))

    @property
    def task(self) -> str:
        return str(self.manifest["task"])

    @property
    def threshold(self) -> float | None:
        value = self.manifest.get("threshold")
        return None if value is None else float(value)

    @property
    def key(self) -> str | None:
        key = self.manifest.get("key")
        return str(key) if key else None

    @property
    def input_signature(self) -> list[dict[str, Any]]:
        """The input columns: name, Arrow type and whether missing values are allowed."""
        return list(self.manifest["input_signature"])

    @property
    def output_signature(self) -> list[dict[str, Any]]:
        return list(self.manifest["output_signature"])

    def input_example(self) -> list[dict[str, Any]]:
        """A few rows of the eval split's inputs, as JSON records."""
        rows: list[dict[str, Any]] = json.loads((self.path / _EXAMPLE).read_text(encoding="utf-8"))
        return rows

    def training_statistics(self) -> DatasetStatistics | None:
        return self._stats(_TRAINING_STATS)

    def prediction_statistics(self) -> DatasetStatistics | None:
        return self._stats(_PREDICTION_STATS)

    def feature_statistics(self) -> DatasetStatistics | None:
        """Statistics of the transformed training features; None in bundles made without them."""
        return self._stats(_FEATURE_STATS)

    def _stats(self, rel: str) -> DatasetStatistics | None:
        from ..validate.stats import DatasetStatistics

        path = self.path / rel
        if not path.is_file():
            return None
        return DatasetStatistics.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def scores(self, batch: pa.RecordBatch | pa.Table | Mapping[str, Any]) -> np.ndarray:
        """The model's raw scores for raw input rows (the transform applied first)."""
        features = self.transform.apply(batch)
        return np.asarray(self.model.predict(features))

    def predict(self, batch: pa.RecordBatch | pa.Table | Mapping[str, Any]) -> pa.Table:
        """Predictions for raw input rows, in the shape of the task (``output.py``).

        Raises
        ------
        ValueError
            An input column is missing or cannot be read as its type (named).
        """
        return output_table(self.task, self.scores(batch), threshold=self.threshold)

    def __repr__(self) -> str:
        return f"<Bundle {self.name} {self.manifest.get('framework')} {self.task} at {self.path}>"


def load_bundle(path: str | os.PathLike[str], *, trust_code: bool = False) -> Bundle:
    """Load the bundle at ``path``, checking every file against ``bundle.json`` first.

    Parameters
    ----------
    trust_code
        Allow a bundle that holds model code (``trusted_code`` in its manifest).

    Raises
    ------
    ArtifactIntegrityError
        A file was changed, removed or added since the bundle was written (named).
    MaterializerError
        Not a bundle, or a format this version does not read.
    UnsafeArtifactError
        The bundle holds code and ``trust_code`` is not set.
    """
    from ..train.model import TrainedModelMaterializer
    from ..transform import FittedTransform

    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"no bundle at {folder}: not a folder")
    manifest = read_manifest(folder)
    verify_files(folder, manifest["files"])
    code = manifest.get("trusted_code")
    if code and not trust_code:
        raise UnsafeArtifactError(
            f"bundle {folder} holds model code ({code.get('digest', '?')[:12]}); loading it runs"
            " that code, so it is refused unless trusted (trust_code=True, --trust-code)"
        )
    model = TrainedModelMaterializer().load(folder / _MODEL_DIR, {}, "")
    try:
        transform = FittedTransform.from_dict(
            json.loads((folder / _TRANSFORM).read_text(encoding="utf-8"))
        )
    except ValueError as exc:
        raise MaterializerError(f"bundle {folder}: {_TRANSFORM}: {exc}") from None
    return Bundle(folder, manifest, model, transform)


def copy_bundle(src: Path, dest: Path) -> Path:
    """Copy a bundle's own files (not a store's manifest) to a new folder, all or nothing."""
    manifest = read_manifest(src)
    verify_files(src, manifest["files"])
    if dest.exists():
        raise FileExistsError(f"{dest} exists; export to a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        copy_files(src, tmp, manifest)
        os.chmod(tmp, 0o755)  # noqa: S103 - mkdtemp makes 0700; a bundle is meant to be shared
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


class BundleMaterializer(Materializer):
    """A bundle folder in the artifact store; loads back as a verified :class:`Bundle`."""

    name = "shipyard.bundle"
    types = ("shipyard.Bundle",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        src = value.path if isinstance(value, Bundle) else Path(value)
        manifest = read_manifest(src)
        verify_files(src, manifest["files"])
        copy_files(src, folder, manifest)
        return {
            "framework": manifest["framework"],
            "task": manifest["task"],
            "name": manifest["name"],
        }

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        return load_bundle(folder)


def extract_archive(archive: Path, into: Path) -> Path:
    """Unpack an exported ``.tar.gz`` bundle into ``into``; return the bundle's folder.

    Only plain files and folders under one top folder are accepted (no links,
    no absolute paths, nothing outside ``into``); the files are then checked
    against ``bundle.json`` by :func:`load_bundle` as usual.
    """
    import tarfile

    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            tops = {Path(m.name).parts[0] for m in members if m.name}
            bad = [m.name for m in members if not (m.isfile() or m.isdir())]
            if len(tops) != 1 or bad:
                raise MaterializerError(
                    f"{archive} is not a bundle archive: expected plain files under one folder"
                    + (f"; {bad[0]} is a link or device" if bad else "")
                )
            tar.extractall(into, filter="data")  # refuses absolute paths and '..'
    except (tarfile.TarError, OSError) as exc:
        raise MaterializerError(f"cannot read the bundle archive {archive}: {exc}") from None
    return into / tops.pop()
