"""Bundle format v1: a model, its transform and what serving and monitoring need, verified.

See ``docs/bundle.md`` for the layout and ``shipyard.bundle.output`` for the
prediction output of each task.
"""

from __future__ import annotations

from .bundle import Bundle as Bundle
from .bundle import copy_bundle as copy_bundle
from .bundle import load_bundle as load_bundle
from .bundle import write_bundle as write_bundle
from .output import output_signature as output_signature
from .output import output_table as output_table

__all__ = [
    "Bundle",
    "copy_bundle",
    "load_bundle",
    "output_signature",
    "output_table",
    "write_bundle",
]
