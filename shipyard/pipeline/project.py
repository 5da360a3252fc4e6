"""A project: its root folder, its config and its two stores, opened lazily."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..store.artifacts import ArtifactStore, open_artifact_store

if TYPE_CHECKING:
    from ..config import ShipyardConfig
    from ..store.metadata import MetadataStore

__all__ = ["Project", "STORE_DIR"]

STORE_DIR = ".shipyard"


class Project:
    """The folder a user works in, found like git finds a repository.

    Parameters
    ----------
    root
        The project root: the nearest folder upward holding ``shipyard.yaml`` or
        ``.shipyard/``.
    config
        The validated ``shipyard.yaml`` (defaults when there is none).
    """

    def __init__(self, root: Path, config: ShipyardConfig) -> None:
        self.root = root
        self.config = config

    @classmethod
    def discover(cls, start: Path | str | None = None) -> Project:
        """The project holding ``start`` (the working directory by default)."""
        from ..config import load_project

        root, config = load_project(Path(start) if start is not None else None)
        return cls(root, config)

    @property
    def store_dir(self) -> Path:
        return self.root / STORE_DIR

    @property
    def store_url(self) -> str:
        """``SHIPYARD_STORE_URL``, else ``store.url`` of the config, else SQLite in the store folder."""
        return os.environ.get("SHIPYARD_STORE_URL") or self.config.metadata_url()

    @functools.cached_property
    def metadata(self) -> MetadataStore:
        from ..store.metadata import MetadataStore

        return MetadataStore(self.store_url)

    @functools.cached_property
    def artifacts(self) -> ArtifactStore:
        return open_artifact_store(
            self.config.artifacts_location(), cache_dir=self.store_dir / "cache"
        )

    @property
    def logs_dir(self) -> Path:
        return self.store_dir / "logs"

    def relative(self, path: Path | str) -> str:
        """``path`` relative to the root when it lies inside it, else absolute."""
        p = Path(path).resolve()
        try:
            return p.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(p)

    def close(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.close()
