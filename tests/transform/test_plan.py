"""plan_features: defaults per kind, and every bad config as an error naming its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from shipyard.config import ShipyardConfig
from shipyard.errors import ConfigError
from shipyard.transform import FeaturePlan, plan_features
from shipyard.transform.spec import OPS, check_params

SCHEMA = pa.schema(
    [
        ("flight_id", pa.string()),
        ("dep_delay", pa.float64()),
        ("distance", pa.int64()),
        ("carrier", pa.string()),
        ("cancelled", pa.bool_()),
        ("origin", pa.dictionary(pa.int32(), pa.string())),
        ("time_hour", pa.timestamp("us", "UTC")),
        ("day", pa.date32()),
        ("tags", pa.list_(pa.string())),
        ("late", pa.bool_()),
        ("label", pa.string()),
    ]
)


def _plan(features: dict[str, Any], **kw: Any) -> FeaturePlan:
    kw.setdefault("target", "late")
    kw.setdefault("key", "flight_id")
    return plan_features(features, SCHEMA, **kw)


def _error(features: dict[str, Any], **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        _plan(features, **kw)
    return info.value


def _ops(plan: FeaturePlan) -> dict[str, list[str]]:
    return {f.name: [op.op for op in f.ops] for f in plan.features}


def test_inferred_plan_uses_every_column_but_target_key_and_exclude() -> None:
    plan = _plan({"exclude": ["label"]})
    assert _ops(plan) == {
        "dep_delay": ["impute"],
        "distance": ["impute"],
        "carrier": ["vocabulary", "encode"],
        "cancelled": ["vocabulary", "encode"],
        "origin": ["vocabulary", "encode"],
        "time_hour": ["parts", "cyclical"],
        "day": ["parts", "cyclical"],
    }
    assert plan.skipped == {"tags": "type list<item: string> fits no feature kind"}
    assert plan.features[0].ops[0].params == {"strategy": "median", "value": None}
    vocabulary, encode = plan.features[2].ops
    assert vocabulary.params == {"min_frequency": 1, "max_size": None, "oov_buckets": 1}
    assert encode.params == {"max_onehot": 20}
    assert plan.features[5].ops[0].params == {"parts": ["hour", "weekday", "month"]}
    assert plan.input_columns == [
        "dep_delay", "distance", "carrier", "cancelled", "origin", "time_hour", "day",
    ]  # fmt: skip
    assert plan.input_schema.field("time_hour").type == pa.timestamp("us", "UTC")
    assert plan.to_dict()["features"][0] == {
        "name": "dep_delay",
        "columns": ["dep_delay"],
        "kind": "numeric",
        "ops": [{"op": "impute", "params": {"strategy": "median", "value": None}}],
    }


def test_listed_columns_get_their_transforms_and_the_implied_ones() -> None:
    config = ShipyardConfig.from_dict(
        {
            "features": {
                "columns": [
                    {"name": "dep_delay", "transforms": [{"op": "impute", "value": 0}]},
                    {"name": "distance", "kind": "categorical", "transforms": [{"op": "onehot"}]},
                    {"name": "carrier", "transforms": [{"op": "top_k", "k": 5}]},
                    {
                        "name": "origin",
                        "transforms": [{"op": "impute", "strategy": "most_frequent"}],
                    },
                    {"name": "label", "kind": "datetime", "transforms": [{"op": "cyclical"}]},
                ],
                "crosses": [{"columns": ["carrier", "origin"], "hash_buckets": 64}],
            }
        }
    )
    plan = plan_features(config.features, SCHEMA, target="late")
    assert _ops(plan) == {
        "dep_delay": ["impute"],
        "distance": ["vocabulary", "onehot"],
        "carrier": ["top_k", "encode"],
        "origin": ["impute", "vocabulary", "encode"],
        "label": ["cyclical"],
        "carrier_x_origin": ["hashing", "encode"],
    }
    assert plan.features[0].ops[0].params == {"strategy": "constant", "value": 0.0}
    assert plan.features[0].ops[0].field == "features.columns[0].transforms[0]"
    assert plan.features[-1].columns == ("carrier", "origin")
    assert plan.features[-1].ops[0].params == {"buckets": 64}


def test_a_column_that_is_not_in_the_data() -> None:
    err = _error({"columns": [{"name": "dep_delya"}]})
    assert err.field == "features.columns[0].name"
    assert "did you mean 'dep_delay'?" in str(err)
    assert "the data's columns: flight_id, dep_delay, distance" in str(err)


def test_an_excluded_column_that_is_not_in_the_data() -> None:
    err = _error({"exclude": ["carier"]})
    assert err.field == "features.exclude[0]" and "did you mean 'carrier'?" in str(err)


def test_an_op_that_does_not_fit_the_column() -> None:
    err = _error({"columns": [{"name": "carrier", "transforms": [{"op": "log1p"}]}]})
    assert err.field == "features.columns[0].transforms[0].op"
    message = str(err)
    assert "op 'log1p' does not fit categorical column 'carrier' (string)" in message
    assert "valid ops here: impute, vocabulary, top_k, hashing, onehot, ordinal, encode" in message


def test_an_op_that_does_not_fit_what_the_ops_before_it_made() -> None:
    err = _error(
        {
            "columns": [
                {"name": "carrier", "transforms": [{"op": "vocabulary"}, {"op": "standardize"}]}
            ]
        }
    )
    assert err.field == "features.columns[0].transforms[1].op"
    assert "after 'vocabulary' are category codes" in str(err)
    assert "valid ops here: onehot, ordinal, encode" in str(err)


def test_an_op_after_an_encoding() -> None:
    err = _error(
        {"columns": [{"name": "carrier", "transforms": [{"op": "onehot"}, {"op": "impute"}]}]}
    )
    assert err.field == "features.columns[0].transforms[1].op"
    assert "comes after 'onehot', which encodes the feature" in str(err)


def test_an_unknown_op_gets_a_suggestion_and_the_kinds_ops() -> None:
    err = _error({"columns": [{"name": "dep_delay", "transforms": [{"op": "standardise"}]}]})
    assert err.field == "features.columns[0].transforms[0].op"
    assert "unknown op 'standardise'; did you mean 'standardize'?" in str(err)
    assert "ops for numeric columns: impute, clip, log1p, standardize, minmax" in str(err)


def test_an_unknown_parameter() -> None:
    err = _error({"columns": [{"name": "dep_delay", "transforms": [{"op": "clip", "min": 0}]}]})
    assert err.field == "features.columns[0].transforms[0].min"
    assert "op 'clip' has no parameter 'min'; its parameters: lower, upper" in str(err)


@pytest.mark.parametrize(
    ("column", "transform", "param", "expected"),
    [
        ("dep_delay", {"op": "quantile_buckets", "buckets": 1}, "buckets", "buckets=1 must be at least 2"),
        ("dep_delay", {"op": "quantile_buckets", "buckets": 2.5}, "buckets", "must be a whole number"),
        ("dep_delay", {"op": "quantile_buckets", "buckets": float("inf")}, "buckets", "whole number"),
        ("dep_delay", {"op": "clip", "lower": 5, "upper": 1}, "lower", "lower=5.0 is above upper=1.0"),
        ("dep_delay", {"op": "clip"}, "lower", "clip needs lower, upper or both"),
        ("dep_delay", {"op": "clip", "upper": "high"}, "upper", "upper='high' must be a finite number"),
        ("dep_delay", {"op": "impute", "strategy": "medium"}, "strategy", "did you mean 'median'?"),
        ("dep_delay", {"op": "impute", "strategy": "most_frequent"}, "strategy", "choices: mean, median, constant"),
        ("dep_delay", {"op": "impute", "strategy": "constant"}, "value", "needs value"),
        ("dep_delay", {"op": "impute", "strategy": "mean", "value": 1}, "value", "needs strategy 'constant'"),
        ("dep_delay", {"op": "impute", "value": "zero"}, "value", "must be a finite number"),
        ("carrier", {"op": "top_k"}, "k", "op 'top_k' needs k"),
        ("carrier", {"op": "vocabulary", "min_frequency": 0}, "min_frequency", "must be at least 1"),
        ("carrier", {"op": "hashing", "buckets": True}, "buckets", "must be a whole number"),
        ("carrier", {"op": "target_encode", "smoothing": -1}, "smoothing", "must be at least 0"),
        ("time_hour", {"op": "parts", "parts": ["hour", "weeekday"]}, "parts", "did you mean 'weekday'?"),
        ("time_hour", {"op": "cyclical", "parts": ["year"]}, "parts", "part 'year' has no cycle"),
        ("time_hour", {"op": "parts", "parts": []}, "parts", "at least one part"),
    ],
)  # fmt: skip
def test_bad_parameter_values(
    column: str, transform: dict[str, Any], param: str, expected: str
) -> None:
    err = _error({"columns": [{"name": column, "transforms": [transform]}]})
    assert err.field == f"features.columns[0].transforms[0].{param}"
    assert expected in str(err)


def test_a_kind_that_does_not_fit_the_column_type() -> None:
    err = _error({"columns": [{"name": "carrier", "kind": "numeric"}]})
    assert err.field == "features.columns[0].kind"
    assert "kind 'numeric' does not fit column 'carrier' of type string" in str(err)
    assert "kinds that fit it: categorical, datetime" in str(err)
    err = _error({"columns": [{"name": "dep_delay", "kind": "datetime"}]})
    assert "kinds that fit it: numeric" in str(err)
    err = _error({"columns": [{"name": "carrier", "kind": "text"}]})
    assert err.field == "features.columns[0].kind" and "kinds: numeric, categorical" in str(err)
    err = _error({"columns": [{"name": "tags"}]})
    assert err.field == "features.columns[0].name" and "which no feature kind fits" in str(err)


def test_target_encoding_needs_a_numeric_or_boolean_target() -> None:
    features = {"columns": [{"name": "carrier", "transforms": [{"op": "target_encode"}]}]}
    assert _ops(_plan(features)) == {"carrier": ["target_encode"]}
    err = _error(features, target=None)
    assert err.field == "features.columns[0].transforms[0].op" and "needs the target" in str(err)
    err = _error(features, target="label")
    assert "needs a numeric or boolean target; data.target='label' is string" in str(err)
    err = _error(features, target="nope")
    assert "data.target='nope' is not a column of the data" in str(err)


def test_the_target_or_key_cannot_be_a_feature() -> None:
    err = _error({"columns": [{"name": "late"}]})
    assert err.field == "features.columns[0].name" and "is data.target" in str(err)


def test_bad_crosses() -> None:
    err = _error({"crosses": [{"columns": ["carrier", "dep_delay"]}]})
    assert err.field == "features.crosses[0].columns"
    assert "crossed column 'dep_delay' is numeric; crosses take categorical columns" in str(err)
    err = _error({"crosses": [{"columns": ["carrier", "origni"]}]})
    assert err.field == "features.crosses[0].columns" and "did you mean 'origin'?" in str(err)
    err = _error({"crosses": [{"columns": ["carrier", "origin"], "name": "dep_delay"}]})
    assert err.field == "features.crosses[0].name" and "already a feature's name" in str(err)


def test_a_plain_dict_with_a_bad_field_is_a_config_error_naming_it() -> None:
    err = _error({"columns": [{"name": "carrier", "kind": "categorial"}]})
    assert "features.columns[0].kind" in str(err)
    assert "expected 'numeric', 'categorical', 'datetime' or 'text'" in str(err)


def test_every_op_has_documented_parameters_with_valid_defaults() -> None:
    for op in OPS.values():
        assert op.summary
        for param in op.params:
            assert param.doc, (op.name, param.name)
        required = {p.name: 3 for p in op.params if p.required}
        stage = op.takes[0]
        if op.name == "clip":
            required = {"lower": 0}
        check_params(op, required, stage, "f")


def test_the_documented_example_config() -> None:
    example = Path(__file__).parents[2] / "docs" / "shipyard.example.yaml"
    features = yaml.safe_load(example.read_text())["features"]
    schema = pa.schema(
        [
            ("flight_id", pa.string()), ("time_hour", pa.timestamp("us", "UTC")),
            ("month", pa.int32()), ("hour", pa.int32()), ("carrier", pa.string()),
            ("origin", pa.string()), ("dest", pa.string()), ("distance", pa.float64()),
            ("dep_delay", pa.float64()), ("arr_delay", pa.float64()), ("temp", pa.float64()),
            ("wind_speed", pa.float64()), ("precip", pa.float64()), ("visib", pa.float64()),
            ("plane_year", pa.int32()), ("seats", pa.int32()), ("late", pa.bool_()),
        ]
    )  # fmt: skip
    plan = plan_features(features, schema, target="late", key="flight_id")
    ops = _ops(plan)
    assert ops["dep_delay"] == ["impute", "clip"] and ops["distance"] == ["log1p"]
    assert ops["month"] == ["vocabulary", "encode"] and ops["dest"] == ["top_k", "encode"]
    assert ops["route"] == ["hashing", "encode"] and plan.features[-1].columns == ("origin", "dest")
    assert "arr_delay" not in plan.input_columns and "time_hour" not in plan.input_columns
