"""Ingestion: sources (files, globs, SQL, DuckDB queries), splits, Dataset artifacts."""

from .dataset import Dataset as Dataset
from .ingest import IngestResult as IngestResult
from .ingest import ingest as ingest
from .sources import resolve_source as resolve_source

__all__ = ["Dataset", "IngestResult", "ingest", "resolve_source"]
