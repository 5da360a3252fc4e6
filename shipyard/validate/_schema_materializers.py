"""How a :class:`Schema` and :class:`Anomalies` returned by a step are stored.

Both are plain text a person can read in the artifact store: the schema as the
same ``schema.yaml`` users keep in git, anomalies as JSON. Neither runs code
on load. Registered lazily in ``shipyard.pipeline.materializers.LAZY_BUILTINS``
so that the pipeline imports this module only when such a value shows up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..pipeline.materializers import Materializer
from ._anomalies import Anomalies
from ._schema_model import Schema

__all__ = ["AnomaliesMaterializer", "SchemaMaterializer"]


class SchemaMaterializer(Materializer):
    """A :class:`Schema` as ``schema.yaml``."""

    name = "shipyard.schema"
    types = ("shipyard.Schema",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        """Write ``schema.yaml``; the properties list the columns."""
        schema: Schema = value
        (folder / "schema.yaml").write_text(schema.to_yaml(), encoding="utf-8")
        return {"columns": schema.names}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        """Read ``schema.yaml`` back."""
        return Schema.from_yaml(folder / "schema.yaml")


class AnomaliesMaterializer(Materializer):
    """:class:`Anomalies` as ``anomalies.json``."""

    name = "shipyard.anomalies"
    types = ("shipyard.Anomalies",)

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        """Write ``anomalies.json``; the properties count errors and warnings."""
        anomalies: Anomalies = value
        data = anomalies.to_dict()
        # allow_nan=False: examples were made JSON-safe; fail loudly if one was not.
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        (folder / "anomalies.json").write_text(text + "\n", encoding="utf-8")
        return {"errors": data["errors"], "warnings": data["warnings"], "rows": data["rows"]}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        """Read ``anomalies.json`` back."""
        text = (folder / "anomalies.json").read_text(encoding="utf-8")
        return Anomalies.from_dict(json.loads(text))
