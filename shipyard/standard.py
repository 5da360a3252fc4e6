"""The standard pipeline that ``shipyard.yaml`` describes: ingest -> validate -> transform
(-> tune) -> train -> evaluate -> register.

Built from the config's sections; each stage is a step of its own package, so the
graph, its cache and its lineage are those of any user pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ShipyardConfig, load_config
from .errors import ConfigError
from .pipeline.dag import Pipeline

__all__ = ["from_config_file", "standard_pipeline"]


def standard_pipeline(config: ShipyardConfig, *, source_file: Path | None = None) -> Pipeline:
    """The pipeline of ``config``'s sections.

    Raises
    ------
    ConfigError
        When the config names no data source (nothing to run).
    """
    from .data.sources import resolve_source
    from .data.steps import ingest_files, ingest_query
    from .evaluate.steps import evaluate_model
    from .registry.steps import register_model
    from .train.steps import fit_features, train_model
    from .tune.steps import tune_model
    from .validate.steps import data_report, infer_data_schema, load_schema, validate_data

    data = config.data
    if data.source is None:
        raise ConfigError(
            "nothing to run: set data.source (the standard pipeline) or pipeline: FILE.py:NAME",
            file=str(source_file) if source_file else None,
            field="data.source",
        )
    root = config.root
    source: dict[str, Any] = data.source.model_dump(mode="json")
    kind = source.get("kind", "auto")
    files: list[Path] | None = None
    if kind in ("csv", "parquet", "jsonl") or (kind == "auto" and source.get("path")):
        resolved = resolve_source(source, root=root)  # file sources only: never connects
        files = resolved.files
        source["kind"] = resolved.kind
    splits = data.splits.model_dump(mode="json")
    common: dict[str, Any] = {
        "source": source,
        "splits": splits,
        "key": data.key,
        "target": data.target,
        "target_expr": data.target_expr,
        "as_of": data.as_of.isoformat() if data.as_of else None,
        "root": str(root),
    }
    title = config.project.name
    checks = config.monitor.probes
    # Only when some are set: the step's arguments (and its record) stay as they were without.
    has_probes = checks.invariance or checks.directional or checks.fixed
    probes = checks.model_dump(mode="json") if has_probes else None

    def standard() -> None:
        if files is not None:
            dataset, stats = ingest_files(files=files, **common)
        else:
            dataset, stats = ingest_query(**common)
        if data.schema_file:
            schema = load_schema(Path(data.schema_file))
        else:
            schema = infer_data_schema(stats)
        anomalies = validate_data(dataset, schema, on_anomaly=data.on_anomaly)
        data_report(stats, anomalies, title=title)
        if not data.target:
            return  # no target: the data stage only
        transform = fit_features(
            dataset,
            stats,
            features=config.features.model_dump(mode="json"),
            target=data.target,
            key=data.key,
            anomalies=anomalies,
        )
        train: Any = config.train.model_dump(mode="json", by_alias=True)
        if config.tune.space:  # search first; training gets the best params merged in
            train = tune_model(
                dataset,
                transform,
                tune=config.tune.model_dump(mode="json"),
                train=train,
                target=data.target,
                task=data.task,
                metrics=list(config.evaluate.metrics),
                threshold=config.evaluate.threshold,
                root=str(root),
            )
        model = train_model(dataset, transform, train=train, target=data.target, task=data.task)
        evaluation, _report = evaluate_model(
            dataset,
            transform,
            model,
            evaluation=config.evaluate.model_dump(mode="json", by_alias=True),
            target=data.target,
            model_name=config.register.model_name,
            root=str(root),
            title=f"{title}: evaluation",
            probes=probes,
        )
        register_model(
            model,
            transform,
            evaluation,
            register=config.register.model_dump(mode="json"),
            dataset=dataset,
            statistics=stats,
            key=data.key,
            root=str(root),
        )

    pipe = Pipeline(standard, name=config.project.name)
    pipe.source = str(source_file or (root / "shipyard.yaml"))
    return pipe


def from_config_file(path: Path) -> Pipeline:
    """The standard pipeline of the ``shipyard.yaml`` at ``path``."""
    return standard_pipeline(load_config(path), source_file=path)
