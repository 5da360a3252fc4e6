"""Bring your own model: a model trained outside Shipyard becomes a registered version.

From a notebook, :func:`register_model` takes an XGBoost or LightGBM Booster
(or their scikit-learn wrappers), a scikit-learn estimator, or a PyTorch model
of a built-in architecture; from the command line, ``shipyard models import``
takes a saved model file. Either way the model gets a bundle like a trained
one: its inputs are the signature's numeric columns, passed to the model as
they are (no transform was fitted), and the version records where it came from
in place of a training run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, MaterializerError, UnsafeArtifactError
from ..train.base import TASKS, Task, unknown_name

if TYPE_CHECKING:
    from ..pipeline.project import Project
    from ..transform import FittedTransform
    from ._records import ModelVersion

__all__ = ["FRAMEWORKS", "import_model_file", "passthrough_transform", "register_model"]

FRAMEWORKS = ("xgboost", "lightgbm", "sklearn")
_NUMERIC = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_FLOATS = ("float", "double", "float32", "float64", "halffloat", "float16")


# -- the signature ---------------------------------------------------------------------------


def _columns(signature: Any, model_names: Sequence[str] | None) -> list[tuple[str, pa.DataType]]:
    """``[(name, Arrow type)]`` from a signature in any of the accepted shapes."""
    if signature is None:
        if not model_names:
            raise ConfigError(
                "the model does not name its features: pass signature=[...] (the input"
                " columns in the order the model reads them)",
                field="signature",
            )
        return [(n, pa.float64()) for n in model_names]
    if isinstance(signature, pa.Schema):
        return [(f.name, f.type) for f in signature]
    if isinstance(signature, Mapping):
        signature = signature.get("inputs", signature.get("input_signature"))
        if signature is None:
            raise ConfigError(
                "a signature given as a mapping needs 'inputs': [{name, type}, ...]",
                field="signature",
            )
    if not isinstance(signature, Sequence) or isinstance(signature, str | bytes):
        raise ConfigError(
            "the signature must be a list of column names or of {name, type}, a pyarrow"
            f" schema, or {{'inputs': [...]}}; got {type(signature).__name__}",
            field="signature",
        )
    out: list[tuple[str, pa.DataType]] = []
    for i, item in enumerate(signature):
        if isinstance(item, str):
            out.append((item, pa.float64()))
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ConfigError(
                f"signature entry {i} must be a column name or {{name, type}}; got {item!r}",
                field=f"signature[{i}]",
            )
        type_name = str(item.get("type", "double"))
        if type_name == "bool":
            out.append((item["name"], pa.bool_()))
        elif type_name in _NUMERIC or type_name in _FLOATS:
            out.append((item["name"], pa.type_for_alias(type_name)))
        else:
            raise ConfigError(
                f"signature column {item['name']!r} has type {type_name!r}; an imported model"
                " takes numbers as they are (no transform was fitted), so the types are:"
                f" {', '.join(('bool', *_NUMERIC, *_FLOATS))}",
                field=f"signature[{i}].type",
            )
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"signature lists {dupes[0]!r} twice", field="signature")
    if not out:
        raise ConfigError("the signature names no input column", field="signature")
    return out


def passthrough_transform(columns: Sequence[tuple[str, pa.DataType]]) -> FittedTransform:
    """A transform that hands the numeric ``columns`` to the model as float32, unchanged."""
    from ..transform import FittedTransform
    from ..transform.apply import schema_to_text

    schema = pa.schema([pa.field(n, t) for n, t in columns])
    spec = {
        "format": 1,
        "features": [
            {"columns": [n], "kind": "numeric", "name": n, "outputs": [n], "steps": []}
            for n, _ in columns
        ],
        "feature_names": [n for n, _ in columns],
        "inputs": [{"name": n, "type": str(t)} for n, t in columns],
        "input_schema": schema_to_text(schema),
        "fit": {"passes": 0, "rows": 0, "seed": 0, "split": None},
        "target": None,
    }
    return FittedTransform.from_dict(spec)


# -- what the model is -----------------------------------------------------------------------


def _describe(model: Any, task: str | None) -> tuple[Any, str, str, str, int | None, list[str]]:
    """``(native model, framework, version, task, num_classes, feature names)``."""
    module = type(model).__module__.partition(".")[0]
    if module == "xgboost":
        import xgboost

        booster = model.get_booster() if hasattr(model, "get_booster") else model
        if not isinstance(booster, xgboost.Booster):
            raise ConfigError(f"not an XGBoost model: {type(model).__name__}", field="model")
        config = json.loads(booster.save_config())["learner"]
        objective = config["objective"]["name"]
        classes = int(config["learner_model_param"].get("num_class", "0") or 0)
        found = _task_of(objective, classes)
        names = list(booster.feature_names or [])
        return booster, "xgboost", xgboost.__version__, task or found[0], found[1], names
    if module == "lightgbm":
        import lightgbm

        booster = model.booster_ if hasattr(model, "booster_") else model
        if not isinstance(booster, lightgbm.Booster):
            raise ConfigError(f"not a LightGBM model: {type(model).__name__}", field="model")
        head = booster.dump_model(num_iteration=1)  # the header, one tree: cheap
        objective = str(head.get("objective", "")).split(" ")[0]
        classes = int(head.get("num_class", 1))
        found = _task_of(objective, classes)
        return (
            booster,
            "lightgbm",
            lightgbm.__version__,
            task or found[0],
            found[1],
            list(booster.feature_name()),
        )
    if module == "sklearn":
        import sklearn
        from sklearn.base import is_classifier

        names = [str(n) for n in getattr(model, "feature_names_in_", [])]
        if is_classifier(model):
            labels = [int(c) for c in getattr(model, "classes_", [])]
            if labels != list(range(len(labels))):
                raise ConfigError(
                    f"the classifier's classes are {labels}; Shipyard's outputs name classes"
                    " 0 .. k-1, so train it on labels encoded that way",
                    field="model",
                )
            k = len(labels)
            return (
                model,
                "sklearn",
                sklearn.__version__,
                task or ("binary" if k == 2 else "multiclass"),
                k,
                names,
            )
        return model, "sklearn", sklearn.__version__, task or "regression", None, names
    raise ConfigError(
        f"cannot register a {type(model).__module__}.{type(model).__qualname__}: expected an"
        " XGBoost or LightGBM Booster (or their scikit-learn wrappers) or a scikit-learn"
        " estimator",
        field="model",
    )


def _task_of(objective: str, classes: int) -> tuple[str, int | None]:
    if objective.startswith(("binary", "cross_entropy")) or objective in ("reg:logistic",):
        return "binary", 2
    if objective.startswith(("multi", "softmax")):
        return "multiclass", max(classes, 2)
    return "regression", None


# -- registering -----------------------------------------------------------------------------


def _example_table(example: Any, columns: Sequence[tuple[str, pa.DataType]]) -> pa.Table | None:
    if example is None:
        return None
    if hasattr(example, "to_dict") and hasattr(example, "columns"):  # a pandas DataFrame
        example = example.to_dict(orient="list")
    if isinstance(example, Mapping):
        rows = len(next(iter(example.values()), []))
        example = [{k: v[i] for k, v in example.items()} for i in range(rows)]
    if not isinstance(example, Sequence) or not all(isinstance(r, Mapping) for r in example):
        raise ConfigError(
            "the example must be rows ({column: value}), a mapping of columns, or a DataFrame",
            field="example",
        )
    names = [n for n, _ in columns]
    for i, row in enumerate(example):
        missing = [n for n in names if n not in row]
        if missing:
            raise ConfigError(
                f"example row {i} lacks the signature's column(s) {missing}",
                field=f"example[{i}]",
            )
    return pa.Table.from_pylist([{n: row[n] for n in names} for row in example]).cast(
        pa.schema([pa.field(n, t) for n, t in columns])
    )


def register_model(
    model: Any,
    *,
    name: str,
    signature: Any = None,
    example: Any = None,
    task: str | None = None,
    threshold: float | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    alias: str | None = None,
    project: Project | None = None,
    source: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register a model trained outside Shipyard; return its new version.

    Parameters
    ----------
    model
        An ``xgboost.Booster``/``XGBModel``, a ``lightgbm.Booster``/``LGBMModel``,
        or a fitted scikit-learn estimator (classifiers trained on labels 0 .. k-1).
    name
        The registered model's name.
    signature
        The input columns in the order the model reads them: names (numbers,
        float64), ``[{"name": ..., "type": "double"}]``, ``{"inputs": [...]}`` or a
        pyarrow schema. Default: the feature names the model was trained with.
    example
        A few input rows; the model predicts them before anything is registered
        (a signature that does not fit the model fails here), and they become the
        version's input example.
    task
        ``binary``, ``multiclass`` or ``regression``; default: from the model.
    threshold
        The binary decision threshold (default 0.5).
    description, tags, alias
        As for trained versions; ``alias`` is moved to the new version.
    project
        Default: the project of the working directory.
    source
        Recorded as where the model came from (default ``{"kind": "import"}``).

    Raises
    ------
    ConfigError
        A model of another kind, a signature or example that does not fit it (named).
    """
    from ..bundle import load_bundle, write_bundle
    from ..pipeline.materializers import save_value
    from ..pipeline.project import Project
    from ..train.model import TrainedModel
    from . import Registry
    from ._queries import current_user

    if task is not None and task not in TASKS:
        raise unknown_name("task", task, TASKS, field="task")
    native, framework, version, found_task, classes, names = _describe(model, task)
    if found_task == "regression":
        classes = None
    elif found_task == "binary":
        classes = 2
    columns = _columns(signature, names)
    if names and len(names) != len(columns):
        raise ConfigError(
            f"the model was trained on {len(names)} features ({names[:5]}...) but the signature"
            f" names {len(columns)}",
            field="signature",
        )
    transform = passthrough_transform(columns)
    trained = TrainedModel(
        model=native,
        algorithm="import",
        framework=framework,
        framework_version=version,
        task=cast("Task", found_task),
        num_classes=classes,
        feature_names=[n for n, _ in columns],
        source=(source or {}).get("file"),
    )
    table = _example_table(example, columns)
    if table is not None:
        try:
            scores = trained.predict(transform.apply(table))
        except Exception as exc:  # noqa: BLE001 - the model's own error, reported as such
            raise ConfigError(
                f"the model cannot predict the example with this signature: {exc}",
                field="signature",
            ) from None
        expected = (len(table), classes) if found_task == "multiclass" else (len(table),)
        if np.asarray(scores).shape != expected:
            raise ConfigError(
                f"the model gives predictions of shape {np.asarray(scores).shape} for"
                f" {len(table)} rows; a {found_task} model gives {expected}: check task=",
                field="task",
            )
    owned = project is None
    project = project or Project.discover()
    who = {"kind": "import", "by": current_user(), **dict(source or {})}
    try:
        with tempfile.TemporaryDirectory(prefix="shipyard-import-") as tmp:
            folder = write_bundle(
                Path(tmp) / name,
                model=trained,
                transform=transform,
                name=name,
                threshold=threshold if found_task == "binary" else None,
                eval_batches=table.to_batches() if table is not None else (),
                description=description,
                source=who,
                gate=None,
            )
            bundle = load_bundle(folder)
            info = save_value(bundle, project.artifacts)
            example_rows = bundle.input_example()[:1]
        with project.metadata.write() as conn:
            project.metadata.record_artifact(conn, info)
        verdict = {
            "blessed": False,
            "reasons": ["imported: trained outside Shipyard, no evaluation gate ran"],
        }
        return Registry(project).register(
            name,
            info["digest"],
            blessed=False,
            force=True,
            description=description,
            tags=tags or {},
            properties={
                "bundle_format": bundle.manifest["format_version"],
                "framework": framework,
                "task": found_task,
                "threshold": bundle.threshold,
                "source": who,
                "gate": verdict,
                "input_example": example_rows,
            },
            alias=alias,
        )
    finally:
        if owned:
            project.close()


def import_model_file(path: str | os.PathLike[str], framework: str) -> Any:
    """Load a saved model file of ``framework`` in its safe format (never a pickle).

    XGBoost ``.json``/``.ubj``, LightGBM text (``.txt``), scikit-learn ``.skops``
    (types outside scikit-learn, NumPy and SciPy refused).

    Raises
    ------
    ConfigError
        Unknown framework, missing file, or a file that is not a model of it.
    UnsafeArtifactError
        A pickle (``.pkl``, ``.joblib`` ...): it would run code on load.
    """
    from ._safety import PICKLE_SUFFIXES

    file = Path(path)
    if framework not in FRAMEWORKS:
        raise unknown_name("framework", framework, FRAMEWORKS, field="--framework")
    if not file.is_file():
        raise ConfigError(f"no model file at {file}", field="FILE")
    if file.name.lower().endswith(PICKLE_SUFFIXES):
        raise UnsafeArtifactError(
            f"{file} is a pickle, which runs code when loaded; save the model in its safe"
            " format instead: XGBoost booster.save_model('model.ubj'), LightGBM"
            " booster.save_model('model.txt'), scikit-learn skops.io.dump(est, 'model.skops')"
        )
    try:
        if framework == "xgboost":
            import xgboost

            booster = xgboost.Booster()
            booster.load_model(str(file))
            return booster
        if framework == "lightgbm":
            import lightgbm

            return lightgbm.Booster(model_file=str(file))
        from ..pipeline.materializers import SklearnMaterializer

        if not file.name.endswith(".skops"):
            raise ConfigError(
                f"{file}: a scikit-learn model is imported from a .skops file", field="FILE"
            )
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink(file.resolve(), Path(tmp) / "model.skops")
            return SklearnMaterializer().load(Path(tmp), {}, "")
    except (ConfigError, UnsafeArtifactError):
        raise
    except Exception as exc:  # noqa: BLE001 - the library's own message says what is wrong
        raise MaterializerError(f"{file} is not a {framework} model file: {exc}") from None
