"""``plan_features``: the ``features`` section checked against the data's Arrow schema.

Everything a user can get wrong about features is found here, before any row
is read: a column that is not in the data, a kind that does not fit a column's
type, an unknown op, an op that does not fit the values it would get, an
unknown parameter or a bad value. Each is a :class:`~shipyard.errors.ConfigError`
naming the field (``features.columns[3].transforms[0].op``), the value and the
valid choices. The result, a :class:`FeaturePlan`, lists every feature with
its full chain of ops, defaults included, so that what will be fitted is
visible before it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ..config import CrossSpec, FeaturesConfig, FeatureSpec, TransformSpec
from ..errors import ConfigError
from .spec import KINDS, OPS, STAGE_WORDS, check_params, ops_for, suggest

__all__ = ["FeaturePlan", "PlannedFeature", "PlannedOp", "infer_kind", "plan_features"]


@dataclass(frozen=True)
class PlannedOp:
    """One op of a feature with its checked parameters; ``field`` is None for a default."""

    op: str
    params: dict[str, Any]
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "params": dict(self.params)}


@dataclass(frozen=True)
class PlannedFeature:
    """A feature: its name, the input columns it reads, its kind and its ops in order.

    ``kind`` is ``numeric``, ``categorical``, ``datetime`` or ``cross`` (the
    crossed columns' values joined, then treated as categories).
    """

    name: str
    columns: tuple[str, ...]
    kind: str
    ops: tuple[PlannedOp, ...]
    field: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns": list(self.columns),
            "kind": self.kind,
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True)
class FeaturePlan:
    """The checked features, ready to fit.

    Attributes
    ----------
    features
        Every feature in output order.
    input_schema
        The input columns the features read, with their Arrow types, in the data's order.
    target, key
        The target and key columns (never features).
    skipped
        Columns left out of an inferred plan, with the reason (types no kind fits).
    """

    features: tuple[PlannedFeature, ...]
    input_schema: pa.Schema
    target: str | None = None
    key: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def input_columns(self) -> list[str]:
        return list(self.input_schema.names)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (for logs, the CLI and step parameters)."""
        return {
            "features": [f.to_dict() for f in self.features],
            "inputs": [{"name": f.name, "type": str(f.type)} for f in self.input_schema],
            "target": self.target,
            "key": self.key,
            "skipped": dict(self.skipped),
        }


# -- kinds ---------------------------------------------------------------------------------


def _base_type(type_: pa.DataType) -> pa.DataType:
    return type_.value_type if pa.types.is_dictionary(type_) else type_


def _is_string(type_: pa.DataType) -> bool:
    t = pa.types
    return bool(t.is_string(type_) or t.is_large_string(type_) or t.is_string_view(type_))


def _is_number(type_: pa.DataType) -> bool:
    t = pa.types
    return bool(t.is_integer(type_) or t.is_floating(type_) or t.is_decimal(type_))


def infer_kind(type_: pa.DataType) -> str | None:
    """The default kind of a column of Arrow type ``type_``; None when no kind fits.

    Numbers are numeric; strings, booleans and dictionaries categorical;
    timestamps and dates datetime.
    """
    if pa.types.is_dictionary(type_):
        return "categorical" if kinds_fitting(type_) else None
    if _is_number(type_):
        return "numeric"
    if _is_string(type_) or pa.types.is_boolean(type_):
        return "categorical"
    if pa.types.is_timestamp(type_) or pa.types.is_date(type_):
        return "datetime"
    return None


def kinds_fitting(type_: pa.DataType) -> list[str]:
    """The kinds a column of type ``type_`` can have, in :data:`KINDS` order."""
    base = _base_type(type_)
    kinds = []
    if (_is_number(base) or pa.types.is_boolean(base)) and not pa.types.is_dictionary(type_):
        kinds.append("numeric")
    if _is_string(base) or pa.types.is_boolean(base) or pa.types.is_integer(base):
        kinds.append("categorical")
    if (
        pa.types.is_timestamp(base) or pa.types.is_date(base) or _is_string(base)
    ) and not pa.types.is_dictionary(type_):
        kinds.append("datetime")
    return kinds


# -- the plan ------------------------------------------------------------------------------


def _columns_text(names: Sequence[str]) -> str:
    shown = ", ".join(names[:30])
    return shown + (f", ... ({len(names) - 30} more)" if len(names) > 30 else "")


def _unknown_column(name: str, names: Sequence[str], what: str, field_: str) -> ConfigError:
    return ConfigError(
        f"{what} {name!r} is not a column of the data; {suggest(name, names)}"
        f"the data's columns: {_columns_text(names)}",
        field=field_,
    )


def _as_config(features: FeaturesConfig | Mapping[str, Any] | None) -> FeaturesConfig:
    if features is None:
        return FeaturesConfig()
    if isinstance(features, FeaturesConfig):
        return features
    from pydantic import ValidationError

    try:
        return FeaturesConfig.model_validate(dict(features))
    except ValidationError as exc:
        from ..config import ShipyardConfig

        # The whole config's loader turns pydantic's errors into one ConfigError naming each
        # field (features.columns[0].kind ...) with the value and what was expected.
        ShipyardConfig.from_dict({"features": dict(features)})
        raise ConfigError(str(exc), field="features") from None


def _chain(
    kind: str,
    transforms: Sequence[TransformSpec],
    column: str,
    type_text: str,
    field_: str,
    target_type: pa.DataType | None,
    target: str | None,
) -> tuple[PlannedOp, ...]:
    """The ops of one feature: the user's, checked, with implied ones and defaults added."""
    if not transforms:
        return _defaults(kind, field_)
    stage = kind
    ops: list[PlannedOp] = []
    last = ""
    for j, spec in enumerate(transforms):
        where = f"{field_}.transforms[{j}]"
        op = OPS.get(spec.op)
        if op is None:
            raise ConfigError(
                f"unknown op {spec.op!r}; {suggest(spec.op, list(OPS))}ops for {kind} columns: "
                + ", ".join(ops_for(kind)),
                field=f"{where}.op",
            )
        if stage == "done":
            raise ConfigError(
                f"op {spec.op!r} comes after {last!r}, which encodes the feature and ends its"
                f" transforms; put {spec.op!r} before it or drop it",
                field=f"{where}.op",
            )
        if stage == "categorical" and op.takes == ("codes",):
            # onehot/ordinal/encode straight on categories: the vocabulary they need is implied.
            ops.append(PlannedOp("vocabulary", check_params(OPS["vocabulary"], {}, stage, where)))
            stage = "codes"
        if stage not in op.takes:
            after = f" after {last!r}" if last else ""
            raise ConfigError(
                f"op {spec.op!r} does not fit {kind} column {column!r} ({type_text}): it takes "
                + " or ".join(STAGE_WORDS[s] for s in op.takes)
                + f", and the values{after} are {STAGE_WORDS[stage]}; valid ops here: "
                + ", ".join(ops_for(stage)),
                field=f"{where}.op",
            )
        params = check_params(op, spec.params, stage, where)
        if op.name == "target_encode":
            _check_target(target, target_type, f"{where}.op")
        ops.append(PlannedOp(op.name, params, where))
        stage = op.gives or stage
        last = op.name
    if stage == "categorical":
        ops.append(PlannedOp("vocabulary", check_params(OPS["vocabulary"], {}, stage, field_)))
        stage = "codes"
    if stage == "codes":
        ops.append(PlannedOp("encode", check_params(OPS["encode"], {}, stage, field_)))
    return tuple(ops)


def _check_target(target: str | None, target_type: pa.DataType | None, field_: str) -> None:
    if target is None:
        raise ConfigError(
            "op 'target_encode' needs the target: set data.target (or pass target=)", field=field_
        )
    if target_type is None:
        raise ConfigError(
            f"op 'target_encode' needs the target, and data.target={target!r} is not a column of"
            " the data",
            field=field_,
        )
    base = _base_type(target_type)
    if not (_is_number(base) or pa.types.is_boolean(base)):
        raise ConfigError(
            f"op 'target_encode' needs a numeric or boolean target; data.target={target!r} is"
            f" {target_type} (for a multiclass target, use onehot or ordinal)",
            field=field_,
        )


def _defaults(kind: str, field_: str) -> tuple[PlannedOp, ...]:
    if kind == "numeric":
        return (
            PlannedOp("impute", check_params(OPS["impute"], {"strategy": "median"}, kind, field_)),
        )
    if kind == "categorical":
        return (
            PlannedOp("vocabulary", check_params(OPS["vocabulary"], {}, kind, field_)),
            PlannedOp("encode", check_params(OPS["encode"], {}, "codes", field_)),
        )
    return (
        PlannedOp("parts", check_params(OPS["parts"], {}, kind, field_)),
        PlannedOp("cyclical", check_params(OPS["cyclical"], {}, kind, field_)),
    )


def _kind(spec: FeatureSpec, type_: pa.DataType, field_: str) -> str:
    fitting = kinds_fitting(type_)
    if spec.kind is None:
        kind = infer_kind(type_)
        if kind is None:
            raise ConfigError(
                f"column {spec.name!r} is {type_}, which no feature kind fits (kinds: "
                + ", ".join(KINDS)
                + "); exclude it, or cast it in the source query",
                field=f"{field_}.name",
            )
        return kind
    if spec.kind not in KINDS:
        raise ConfigError(
            f"kind {spec.kind!r} has no transforms yet; kinds: " + ", ".join(KINDS),
            field=f"{field_}.kind",
        )
    if spec.kind not in fitting:
        fits = ", ".join(fitting) if fitting else "none"
        raise ConfigError(
            f"kind {spec.kind!r} does not fit column {spec.name!r} of type {type_}; kinds that fit"
            f" it: {fits}",
            field=f"{field_}.kind",
        )
    return spec.kind


def plan_features(
    features: FeaturesConfig | Mapping[str, Any] | None,
    arrow_schema: pa.Schema,
    *,
    target: str | None = None,
    key: str | None = None,
) -> FeaturePlan:
    """Check the ``features`` section against the data's schema and list every feature's ops.

    With ``columns`` empty, every column but ``target``, ``key`` and ``exclude`` is a
    feature, its kind inferred from its Arrow type (columns no kind fits are
    skipped and listed in ``FeaturePlan.skipped``). A feature with no transforms
    gets its kind's defaults: numeric ``impute`` (median); categorical
    ``vocabulary`` (min_frequency 1) then ``encode`` (one-hot up to 20 values,
    else ordinal); datetime ``parts`` and ``cyclical`` (hour, weekday, month).
    A chain that ends on categories or codes gets ``vocabulary`` and ``encode``
    as needed; ``onehot`` or ``ordinal`` straight on categories implies a
    ``vocabulary``. A cross hashes its joined values into ``hash_buckets``, or,
    without, gets a vocabulary; either way then ``encode``.

    Parameters
    ----------
    features
        The ``features`` section, as a config model or a plain dict.
    arrow_schema
        The data's Arrow schema (``Dataset.schema``).
    target, key
        ``data.target`` and ``data.key``: never features.

    Raises
    ------
    ConfigError
        Naming the field at fault, its value and the valid choices.
    """
    config = _as_config(features)
    names = list(arrow_schema.names)
    types = {f.name: f.type for f in arrow_schema}
    roles = {c: role for role, c in (("data.target", target), ("data.key", key)) if c is not None}
    target_type = types.get(target) if target is not None else None

    for i, name in enumerate(config.exclude):
        if name not in types:
            raise _unknown_column(name, names, "excluded column", f"features.exclude[{i}]")

    specs: list[tuple[FeatureSpec, str]] = []
    skipped: dict[str, str] = {}
    if config.columns:
        for i, spec in enumerate(config.columns):
            where = f"features.columns[{i}]"
            if spec.name not in types:
                raise _unknown_column(spec.name, names, "column", f"{where}.name")
            if spec.name in roles:
                raise ConfigError(
                    f"column {spec.name!r} is {roles[spec.name]}; it cannot be a feature too",
                    field=f"{where}.name",
                )
            specs.append((spec, where))
    else:
        for name in names:
            if name in roles or name in config.exclude:
                continue
            if infer_kind(types[name]) is None:
                skipped[name] = f"type {types[name]} fits no feature kind"
                continue
            specs.append((FeatureSpec(name=name), "features.columns"))  # inferred: no entry

    planned: list[PlannedFeature] = []
    kinds: dict[str, str] = {}
    for spec, where in specs:
        type_ = types[spec.name]
        kind = _kind(spec, type_, where)
        kinds[spec.name] = kind
        ops = _chain(kind, spec.transforms, spec.name, str(type_), where, target_type, target)
        planned.append(PlannedFeature(spec.name, (spec.name,), kind, ops, where))

    taken = {f.name for f in planned}
    for i, cross in enumerate(config.crosses):
        planned.append(_cross(cross, i, types, names, kinds, roles, taken))
        taken.add(planned[-1].name)

    used = {c for f in planned for c in f.columns}
    schema = pa.schema([f for f in arrow_schema if f.name in used])
    return FeaturePlan(tuple(planned), schema, target, key, skipped)


def _cross(
    cross: CrossSpec,
    index: int,
    types: Mapping[str, pa.DataType],
    names: Sequence[str],
    kinds: Mapping[str, str],
    roles: Mapping[str, str],
    taken: set[str],
) -> PlannedFeature:
    where = f"features.crosses[{index}]"
    for column in cross.columns:
        if column not in types:
            raise _unknown_column(column, names, "crossed column", f"{where}.columns")
        if column in roles:
            raise ConfigError(
                f"crossed column {column!r} is {roles[column]}; it cannot be crossed",
                field=f"{where}.columns",
            )
        kind = kinds.get(column) or infer_kind(types[column])
        if kind != "categorical" or "categorical" not in kinds_fitting(types[column]):
            raise ConfigError(
                f"crossed column {column!r} is {kind or types[column]}; crosses take categorical"
                " columns (bucket a number with quantile_buckets in a feature of its own)",
                field=f"{where}.columns",
            )
    if len(set(cross.columns)) != len(cross.columns):
        raise ConfigError(f"columns {cross.columns} name a column twice", field=f"{where}.columns")
    name = cross.name or "_x_".join(cross.columns)
    if name in taken:
        raise ConfigError(
            f"cross name {name!r} is already a feature's name; give the cross another name",
            field=f"{where}.name",
        )
    ops: list[PlannedOp] = []
    if cross.hash_buckets is not None:
        params = check_params(OPS["hashing"], {"buckets": cross.hash_buckets}, "categorical", where)
        ops.append(PlannedOp("hashing", params, f"{where}.hash_buckets"))
    else:
        ops.append(
            PlannedOp("vocabulary", check_params(OPS["vocabulary"], {}, "categorical", where))
        )
    ops.append(PlannedOp("encode", check_params(OPS["encode"], {}, "codes", where)))
    return PlannedFeature(name, tuple(cross.columns), "cross", tuple(ops), where)
