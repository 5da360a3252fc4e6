"""Data schemas: infer one, keep it as ``schema.yaml``, check new data against it.

A :class:`Schema` lists the columns a dataset must have, with a portable type,
whether nulls are allowed, and optionally the values (``domain``) or bounds
(``range``) allowed. :func:`infer_schema` writes a first one from statistics;
:meth:`Schema.to_yaml` turns it into a commented file to review, edit and keep
in git; :meth:`Schema.from_yaml` reads it back with errors that name the line.

New data is checked batch by batch with a :class:`Validator` (vectorised, in
constant memory), or from its statistics alone with :func:`validate_stats`.
Both return :class:`Anomalies`: one :class:`Anomaly` per column and rule with a
severity, a count, a few examples and where it was first seen. Errors stop a
pipeline (:meth:`Anomalies.raise_for_errors`); warnings are recorded and shown.

Rules: ``missing_column``, ``extra_column``, ``type_mismatch``,
``unexpected_nulls``, ``out_of_domain`` and ``out_of_range``.
"""

from __future__ import annotations

from ._anomalies import Anomalies as Anomalies
from ._anomalies import Anomaly as Anomaly
from ._anomalies import DataValidationError as DataValidationError
from ._column_types import ColumnType as ColumnType
from ._column_types import portable_type as portable_type
from ._from_stats import infer_schema as infer_schema
from ._from_stats import validate_stats as validate_stats
from ._rules import Validator as Validator
from ._schema_model import DEFAULT_SEVERITY as DEFAULT_SEVERITY
from ._schema_model import RULES as RULES
from ._schema_model import ColumnSchema as ColumnSchema
from ._schema_model import Range as Range
from ._schema_model import Rule as Rule
from ._schema_model import Schema as Schema
from ._schema_model import Severity as Severity

__all__ = [
    "DEFAULT_SEVERITY",
    "RULES",
    "Anomalies",
    "Anomaly",
    "ColumnSchema",
    "ColumnType",
    "DataValidationError",
    "Range",
    "Rule",
    "Schema",
    "Severity",
    "Validator",
    "infer_schema",
    "portable_type",
    "validate_stats",
]
