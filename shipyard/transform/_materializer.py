"""Stores a :class:`FittedTransform` as ``transform.json``: data, never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import MaterializerError
from ..pipeline.materializers import Materializer
from .apply import FittedTransform

__all__ = ["TransformMaterializer"]


class TransformMaterializer(Materializer):
    """A fitted transform as one JSON file, keys sorted: equal transforms, equal digests."""

    name = "shipyard.transform"
    types = ("shipyard.FittedTransform",)
    FILE = "transform.json"

    def save(self, value: Any, folder: Path) -> dict[str, Any]:
        """Write ``transform.json``; return the input columns and the number of features."""
        if not isinstance(value, FittedTransform):
            raise MaterializerError(
                f"the transform materializer stores a FittedTransform; got {type(value).__name__}"
            )
        (folder / self.FILE).write_text(value.to_json())
        return {"inputs": value.input_columns, "features": len(value.feature_names)}

    def load(self, folder: Path, properties: dict[str, Any], python_type: str) -> Any:
        """Read the transform back (checked: it must compile)."""
        try:
            return FittedTransform.from_dict(json.loads((folder / self.FILE).read_text()))
        except ValueError as exc:
            raise MaterializerError(f"cannot read {self.FILE}: {exc}") from None
