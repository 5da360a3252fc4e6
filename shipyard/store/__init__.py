"""The metadata store (SQLAlchemy) and the artifact store (local folder or fsspec URL)."""
