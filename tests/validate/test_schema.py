"""Tests of shipyard/validate/schema.py: inference, schema.yaml, the rules and their report."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shipyard.errors import ConfigError, ShipyardError
from shipyard.pipeline import materializers
from shipyard.store.artifacts import LocalArtifactStore
from shipyard.validate._schema_materializers import AnomaliesMaterializer, SchemaMaterializer
from shipyard.validate.schema import (
    Anomalies,
    Anomaly,
    ColumnSchema,
    DataValidationError,
    Range,
    Schema,
    Validator,
    infer_schema,
    portable_type,
    validate_stats,
)

# -- helpers -----------------------------------------------------------------------------------


def statistics(*batches: pa.RecordBatch | pa.Table) -> Any:
    """Statistics of ``batches`` from the real implementation (shipyard/validate/stats.py)."""
    from shipyard.validate.stats import compute_statistics

    return compute_statistics([b for t in batches for b in _batches(t)])


def _batches(data: pa.RecordBatch | pa.Table) -> list[pa.RecordBatch]:
    return data.to_batches() if isinstance(data, pa.Table) else [data]


def check(schema: Schema, *batches: pa.RecordBatch | pa.Table, where: str = "") -> Anomalies:
    validator = Validator(schema)
    for batch in batches:
        validator.update(batch, where=where)
    return validator.anomalies()


def only(anomalies: Anomalies, column: str, rule: str) -> Anomaly:
    found = anomalies.find(column, rule)  # type: ignore[arg-type]
    assert found is not None, anomalies.to_text()
    return found


def flights(n: int = 2000, seed: int = 7) -> pa.Table:
    """A small flights-like table with every kind of column."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    return pa.table(
        {
            "carrier": pa.array([rng.choice(["AA", "B6", "DL", "NO", "UA"]) for _ in range(n)]),
            "distance": pa.array([rng.randint(50, 3000) for _ in range(n)], pa.int32()),
            "delay": pa.array(
                [None if i % 97 == 0 else rng.gauss(5, 20) for i in range(n)], pa.float64()
            ),
            "cancelled": pa.array([rng.random() < 0.05 for _ in range(n)]),
            "departure": pa.array(
                [start + timedelta(minutes=rng.randint(0, 500_000)) for _ in range(n)],
                pa.timestamp("us"),
            ),
            "day": pa.array([date(2024, 1, 1) + timedelta(days=i % 300) for i in range(n)]),
            "tail": pa.array([f"N{rng.randint(0, 10**6)}" for _ in range(n)]),
        }
    )


SIMPLE = Schema(
    columns=[
        ColumnSchema(name="carrier", type="string", nullable=False, domain=["AA", "B6", "NO"]),
        ColumnSchema(name="delay", type="float", range=Range(min=-30.0, max=100.0)),
        ColumnSchema(name="seats", type="int", nullable=False),
        ColumnSchema(name="note", type="string", required=False),
    ]
)


def clean_batch(n: int = 4) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "carrier": pa.array((["AA", "B6", "NO"] * n)[:n]),
            "delay": pa.array([float(i) for i in range(n)]),
            "seats": pa.array(list(range(n)), pa.int64()),
            "note": pa.array([None] * n, pa.string()),
        }
    )


# -- inference ---------------------------------------------------------------------------------


def test_inference_types_nullability_domains_and_ranges() -> None:
    table = flights()
    schema = infer_schema(statistics(table), max_domain=10)
    by_name = {c.name: c for c in schema.columns}
    assert schema.names == table.column_names
    assert {n: c.type for n, c in by_name.items()} == {
        "carrier": "string",
        "distance": "int",
        "delay": "float",
        "cancelled": "bool",
        "departure": "timestamp",
        "day": "date",
        "tail": "string",
    }
    assert by_name["distance"].arrow_type == "int32"
    assert by_name["delay"].nullable and not by_name["carrier"].nullable
    assert by_name["carrier"].domain == ["AA", "B6", "DL", "NO", "UA"]
    assert by_name["cancelled"].domain == [False, True]
    assert by_name["tail"].domain is None  # far more than max_domain values
    distance = table["distance"].to_pylist()
    assert by_name["distance"].range == Range(min=min(distance), max=max(distance))
    assert isinstance(by_name["distance"].range.min, int)  # type: ignore[union-attr, unused-ignore]
    delays = [d for d in table["delay"].to_pylist() if d is not None]
    assert by_name["delay"].range == Range(min=min(delays), max=max(delays))
    departure = by_name["departure"].range
    assert departure is not None
    assert datetime.fromisoformat(str(departure.min)) <= min(table["departure"].to_pylist())
    assert datetime.fromisoformat(str(departure.max)) >= max(table["departure"].to_pylist())
    assert by_name["day"].range == Range(min="2024-01-01", max="2024-10-26")


def test_inferred_schema_accepts_its_own_data() -> None:
    table = flights()
    schema = infer_schema(statistics(table))
    assert check(schema, table) == Anomalies([], rows=table.num_rows)
    assert validate_stats(schema, statistics(table)) == Anomalies([], rows=table.num_rows)


def test_inference_range_margin_and_max_domain() -> None:
    start = datetime(2024, 3, 1, 9, 17, 3)
    table = pa.table(
        {
            "x": pa.array([-5.0, 5.0]),
            "n": [1, 3],
            "s": ["a", "b"],
            "price": [0.0, 12.3456],
            "t": [start, start + timedelta(days=20)],
        }
    )
    schema = infer_schema(statistics(table), range_margin=0.1, max_domain=1)
    assert schema.column("x").range == Range(min=-6.0, max=6.0)
    assert schema.column("n").range == Range(min=0, max=4)  # widened outwards to integers
    # Rounded outward at the margin's decimal place; non-negative data stays non-negative.
    assert schema.column("price").range == Range(min=0.0, max=14.0)
    assert schema.column("t").range == Range(min="2024-02-28T00:00:00", max="2024-03-24T00:00:00")
    assert schema.column("s").domain is None
    assert not check(schema, table)
    with pytest.raises(ValueError, match="range_margin"):
        infer_schema(statistics(table), range_margin=-1)


def test_inference_of_zoned_timestamps_keeps_the_offset() -> None:
    moments = [datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2024, 3, 2, 12, 0, 0, 7, tzinfo=UTC)]
    table = pa.table({"t": pa.array(moments, pa.timestamp("us", tz="UTC"))})
    schema = infer_schema(statistics(table))
    assert schema.column("t").range == Range(
        min="2024-03-01T12:00:00+00:00", max="2024-03-02T12:00:00.000007+00:00"
    )
    assert not check(schema, table)
    # Nanoseconds between microseconds stay inside the inferred range.
    nanos = pa.array([1_709_294_400_000_000_001, 1_709_380_800_000_000_999], pa.timestamp("ns"))
    table = pa.table({"t": nanos})
    assert not check(infer_schema(statistics(table)), table)


def test_all_null_column_is_nullable_without_domain() -> None:
    table = pa.table({"s": pa.array([None, None], pa.string()), "z": pa.nulls(2)})
    schema = infer_schema(statistics(table))
    assert schema.column("s").nullable and schema.column("s").domain is None
    assert schema.column("z").type == "other"
    # A later batch where the column has values is not a type change.
    assert not check(schema, pa.table({"s": ["x"], "z": [1.5]}))


# -- schema.yaml -------------------------------------------------------------------------------


def test_yaml_round_trip_of_an_inferred_schema(tmp_path: Path) -> None:
    schema = infer_schema(statistics(flights()), range_margin=0.05)
    path = tmp_path / "schema.yaml"
    path.write_text(schema.to_yaml(), encoding="utf-8")
    assert Schema.from_yaml(path) == schema
    assert Schema.from_yaml(str(path)) == schema
    assert schema.to_yaml() == Schema.from_yaml(path).to_yaml()  # stable text


def test_yaml_is_readable_and_quotes_what_yaml_would_misread() -> None:
    awkward: list[bool | int | str] = [
        "NO",
        "007",
        "null",
        "yes",
        "a: b",
        "#x",
        "multi\nline",
        "é",
        "\x85",
        " lead",
        "",
    ]
    schema = Schema(
        columns=[
            ColumnSchema(name="code", type="string", domain=awkward),
            ColumnSchema(name="when", type="date", range=Range(min="2024-01-01")),
        ],
        extra_columns="error",
        severity={"out_of_range": "error"},
    )
    text = schema.to_yaml()
    assert text.startswith("# ")  # a commented header explains the rules
    assert "  - name: code\n    type: string\n" in text
    assert "      - 'NO'\n" in text and "      - '007'\n" in text
    assert all(len(line) < 120 for line in text.splitlines())
    back = Schema.from_yaml(text)
    assert back == schema and back.column("code").domain == awkward
    assert back.severity["out_of_range"] == "error" and back.severity["type_mismatch"] == "error"


def test_hand_written_yaml_with_defaults_and_unquoted_dates() -> None:
    text = """\
columns:
  - name: id
    type: int
  - name: when
    type: timestamp
    range: {min: 2024-01-01, max: 2024-06-30 12:00:00}
"""
    schema = Schema.from_yaml(text)
    assert schema.column("id").nullable and schema.column("id").required
    assert schema.column("when").range == Range(min="2024-01-01", max="2024-06-30T12:00:00")
    assert schema.extra_columns == "warning"


def _error(text: str, tmp_path: Path, name: str = "schema.yaml") -> ConfigError:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Schema.from_yaml(path)
    return info.value


BASE = """\
version: 1
columns:
  - name: carrier
    type: string
    domain:
      - AA
  - name: delay
    type: float
"""


def test_typo_in_a_field_names_file_line_and_field(tmp_path: Path) -> None:
    error = _error(BASE + "    nulable: false\n", tmp_path)
    assert error.file == str(tmp_path / "schema.yaml")
    assert error.line == 9
    assert error.field == "columns[1].nulable"
    assert "did you mean 'nullable'" in str(error)
    assert str(error).startswith(f"{tmp_path / 'schema.yaml'}:9: field 'columns[1].nulable'")


def test_bad_values_point_at_their_line(tmp_path: Path) -> None:
    error = _error(BASE.replace("type: float", "type: flaot"), tmp_path)
    assert (error.line, error.field) == (8, "columns[1].type")
    assert "did you mean 'float'" in str(error)

    error = _error(BASE.replace("      - AA", "      - AA\n      - NO"), tmp_path)
    assert (error.line, error.field) == (7, "columns[0].domain[1]")
    assert "quote" in str(error)

    error = _error(BASE + "    range: {min: 5, max: 1}\n", tmp_path)
    assert (error.line, error.field) == (9, "columns[1].range.max")
    assert "below min" in str(error)

    error = _error(BASE.replace("carrier", "delay", 1), tmp_path)
    assert (error.line, error.field) == (7, "columns[1].name")
    assert "listed twice" in str(error)

    error = _error(BASE.replace("version: 1\n", "severity: {out_of_rnage: error}\n"), tmp_path)
    assert error.line == 1 and "out_of_rnage" in str(error)

    error = _error("columns:\n  - name: t\n    type: date\n    range: {min: 'soon'}\n", tmp_path)
    assert (error.line, error.field) == (4, "columns[0].range.min")

    error = _error(BASE + "    domain: [1.5]\n", tmp_path)
    assert (error.line, error.field) == (9, "columns[1].domain[0]")
    assert "got 1.5" in str(error) and "whole number" in str(error)


def test_unreadable_sources_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such schema file"):
        Schema.from_yaml(tmp_path / "missing.yaml")
    error = _error("columns: [\n", tmp_path)
    assert "invalid YAML" in str(error) and error.line is not None
    error = _error("- just\n- a list\n", tmp_path)
    assert "expected a mapping" in str(error)
    with pytest.raises(ConfigError, match="<schema>:3"):
        Schema.from_yaml("columns:\n  - name: a\n    tipe: int\n")
    with pytest.raises(ConfigError, match="mine.yaml:2"):
        Schema.from_yaml("columns:\n  - bad\n", source_name="mine.yaml")


# -- the rules ---------------------------------------------------------------------------------


def test_a_clean_batch_gives_no_anomalies() -> None:
    anomalies = check(SIMPLE, clean_batch(), clean_batch(7))
    assert len(anomalies) == 0 and anomalies.ok and anomalies.rows == 11
    assert anomalies.to_text() == "no anomalies in 11 rows\n"
    anomalies.raise_for_errors()


def test_missing_and_extra_columns() -> None:
    batch = clean_batch().drop_columns(["seats", "note"]).append_column("gate", pa.array([1] * 4))
    anomalies = check(SIMPLE, batch, where="shard 3")
    missing = only(anomalies, "seats", "missing_column")
    assert (missing.severity, missing.count, missing.location) == ("error", 4, "shard 3")
    assert only(anomalies, "note", "missing_column").severity == "warning"  # not required
    extra = only(anomalies, "gate", "extra_column")
    assert (extra.severity, extra.count, extra.examples) == ("warning", 4, ["int64"])
    assert len(anomalies) == 3

    strict = SIMPLE.model_copy(update={"extra_columns": "error"})
    assert only(check(strict, batch), "gate", "extra_column").severity == "error"
    relaxed = SIMPLE.model_copy(update={"extra_columns": "ignore"})
    assert check(relaxed, batch).find("gate", "extra_column") is None


def test_type_changes_but_not_widths() -> None:
    batch = clean_batch()
    same_kind = pa.record_batch(
        {
            "carrier": batch["carrier"].cast(pa.large_string()).dictionary_encode(),
            "delay": batch["delay"].cast(pa.float32()),
            "seats": batch["seats"].cast(pa.int8()),
            "note": pa.nulls(4),
        }
    )
    assert not check(SIMPLE, same_kind)
    retyped = batch.set_column(2, "seats", batch["seats"].cast(pa.float64()))
    anomalies = check(SIMPLE, retyped, where="part-1.parquet")
    mismatch = only(anomalies, "seats", "type_mismatch")
    assert mismatch.severity == "error" and mismatch.count == 4
    assert mismatch.examples == ["double"] and mismatch.location == "part-1.parquet"
    assert "expected type int" in mismatch.message and "double" in mismatch.message


def test_type_change_across_batches_with_different_schemas() -> None:
    schema = Schema(columns=[ColumnSchema(name="n", type="int", range=Range(min=0, max=10))])
    first = pa.record_batch({"n": pa.array([1, 2, 3], pa.int64())})
    second = pa.record_batch({"n": pa.array([1.5, 99.0], pa.float64())})
    third = pa.record_batch({"n": pa.array(["7"], pa.string())})
    validator = Validator(schema)
    for i, batch in enumerate([first, second, first, third]):
        validator.update(batch, where=f"shard {i}")
    anomalies = validator.anomalies()
    mismatch = only(anomalies, "n", "type_mismatch")
    assert mismatch.count == 3 and mismatch.examples == ["double", "string"]
    assert mismatch.location == "shard 1"
    # Values of another type are not compared with the range: 99.0 is not reported twice.
    assert anomalies.find("n", "out_of_range") is None
    assert len(anomalies) == 1 and anomalies.rows == 9


def test_check_schema_alone() -> None:
    validator = Validator(SIMPLE)
    validator.check_schema(pa.schema({"carrier": pa.string(), "delay": pa.int64()}), where="x.csv")
    anomalies = validator.anomalies()
    assert {(a.column, a.rule) for a in anomalies} == {
        ("delay", "type_mismatch"),
        ("seats", "missing_column"),
        ("note", "missing_column"),
    }
    assert all(a.count == 0 and a.location == "x.csv" for a in anomalies)


def test_unexpected_nulls() -> None:
    batch = pa.record_batch(
        {
            "carrier": pa.array(["AA", None, "B6", None]),
            "delay": pa.array([1.0, None, None, None]),
            "seats": pa.array([1, 2, 3, 4]),
        }
    )
    schema = SIMPLE.model_copy(deep=True)
    schema.columns[1].max_null_fraction = 0.5
    anomalies = check(schema, batch, batch, where="shard 0")
    nulls = only(anomalies, "carrier", "unexpected_nulls")
    assert (nulls.severity, nulls.count, nulls.location) == ("error", 4, "shard 0, row 1")
    assert nulls.examples == [] and "not nullable" in nulls.message
    fraction = only(anomalies, "delay", "unexpected_nulls")
    assert fraction.count == 6 and "75.00%" in fraction.message and "0.5" in fraction.message
    # The fraction is judged over all rows, not per batch.
    few = pa.record_batch({"delay": pa.array([None, 1.0, 2.0, 3.0])})
    many = pa.record_batch({"delay": pa.array([None, None, None, 1.0])})
    only_delay = Schema(columns=[schema.columns[1]])
    assert not check(only_delay, few, few, few, many)  # 6 of 16 rows
    assert check(only_delay, many, many, few)  # 7 of 12 rows


def test_nan_is_a_null_in_float_columns() -> None:
    schema = Schema(columns=[ColumnSchema(name="x", type="float", nullable=False)])
    batch = pa.record_batch({"x": pa.array([1.0, float("nan"), None, 2.0])})
    nulls = only(check(schema, batch, where="shard 1"), "x", "unexpected_nulls")
    assert nulls.count == 2 and nulls.location == "shard 1, row 1"
    assert "nulls or NaN" in nulls.message


def test_infinities() -> None:
    table = pa.table({"x": pa.array([1.0, float("inf"), 3.0, float("inf")])})
    schema = infer_schema(statistics(table))
    # Statistics do not say on which side the infinities lie: no range rather than a wrong one.
    assert schema.column("x").range is None and not check(schema, table)
    schema.columns[0].range = Range(min=0.0, max=10.0)
    streamed = only(check(schema, table), "x", "out_of_range")
    assert streamed.count == 2 and streamed.examples == ["inf"]
    summarized = only(validate_stats(schema, statistics(table)), "x", "out_of_range")
    assert summarized.count is None and "2 infinite values" in summarized.message


def test_out_of_domain_counts_distinct_examples_and_ignores_nulls() -> None:
    values = ["AA", "ZZ", None, "QQ", "ZZ", "B6", "YY", "XX", "WW", "VV", "ZZ"]
    batch = clean_batch(len(values)).set_column(0, "carrier", pa.array(values))
    anomalies = check(SIMPLE, batch, where="shard 2")
    bad = only(anomalies, "carrier", "out_of_domain")
    assert bad.severity == "error" and bad.count == 8
    assert bad.examples == ["ZZ", "QQ", "YY", "XX", "WW"]  # first five distinct, in order
    assert bad.location == "shard 2, row 1"
    assert "'AA', 'B6', 'NO'" in bad.message


def test_integer_and_boolean_domains() -> None:
    schema = Schema(
        columns=[
            ColumnSchema(name="code", type="int", domain=[1, 2, 300]),
            ColumnSchema(name="flag", type="bool", domain=[True]),
        ]
    )
    batch = pa.record_batch(
        {"code": pa.array([1, 2, 3, 2], pa.int8()), "flag": pa.array([True, False, None, True])}
    )
    anomalies = check(schema, batch)
    assert only(anomalies, "code", "out_of_domain").examples == [3]
    flag = only(anomalies, "flag", "out_of_domain")
    assert flag.count == 1 and flag.examples == [False] and flag.location == "row 1"


def test_out_of_range_numbers_timestamps_and_dates() -> None:
    batch = clean_batch(6).set_column(1, "delay", pa.array([-50.0, 0.0, 200.0, None, 100.0, 101.0]))
    bad = only(check(SIMPLE, batch), "delay", "out_of_range")
    assert bad.severity == "warning" and bad.count == 3 and bad.examples == [-50.0, 200.0, 101.0]
    assert "1 below min" in bad.message and "2 above max" in bad.message

    schema = Schema(
        columns=[
            ColumnSchema(
                name="t", type="timestamp", range=Range(min="2024-01-01", max="2024-01-31T12:00:00")
            ),
            ColumnSchema(name="d", type="date", range=Range(max="2024-02-01")),
        ]
    )
    moments = [
        datetime(2024, 1, 31, 12),
        datetime(2024, 1, 31, 12, 0, 0, 1),
        datetime(2023, 12, 31),
    ]
    for unit in ("s", "ms", "us", "ns"):
        table = pa.table(
            {
                "t": pa.array(moments, pa.timestamp("us")).cast(pa.timestamp(unit), safe=False),
                "d": pa.array([date(2024, 2, 1), date(2024, 2, 2), None]),
            }
        )
        anomalies = check(schema, table)
        t = only(anomalies, "t", "out_of_range")
        expected = ["2023-12-31T00:00:00"] if unit in ("s", "ms") else None
        assert t.count == (1 if unit in ("s", "ms") else 2), unit
        if expected:
            assert t.examples == expected
        assert only(anomalies, "d", "out_of_range").examples == ["2024-02-02"]
        assert (
            only(
                check(
                    schema,
                    table.cast(pa.schema({"t": pa.timestamp(unit, "UTC"), "d": pa.date64()})),
                ),
                "d",
                "out_of_range",
            ).count
            == 1
        )


def test_severity_overrides() -> None:
    batch = clean_batch(3).set_column(1, "delay", pa.array([500.0, 1.0, 2.0]))
    batch = batch.set_column(0, "carrier", pa.array(["ZZ", "AA", "AA"]))
    schema = SIMPLE.model_copy(deep=True)
    assert only(check(schema, batch), "delay", "out_of_range").severity == "warning"
    schema.severity["out_of_range"] = "error"  # schema-wide
    schema.columns[0].severity = {"out_of_domain": "warning"}  # one column
    anomalies = check(schema, batch)
    assert only(anomalies, "delay", "out_of_range").severity == "error"
    assert only(anomalies, "carrier", "out_of_domain").severity == "warning"
    # The override survives the file.
    back = Schema.from_yaml(schema.to_yaml())
    assert back == schema and check(back, batch) == anomalies


def test_streaming_equals_one_big_batch() -> None:
    table = flights(3000, seed=1)
    schema = infer_schema(statistics(flights(500, seed=2)), max_domain=4)
    schema.columns[0].nullable = False
    rng = random.Random(3)
    batches, start = [], 0
    while start < table.num_rows:
        size = rng.randint(1, 400)
        batches.append(table.slice(start, size))
        start += size
    assert len(batches) > 5
    streamed = check(schema, *batches)
    whole = check(schema, table.combine_chunks())
    assert len(streamed) >= 3 and streamed == whole
    assert streamed.to_dict() == whole.to_dict()


def test_locations_count_rows_within_each_where() -> None:
    good = clean_batch(3)
    bad = good.set_column(0, "carrier", pa.array(["AA", "ZZ", "AA"]))
    validator = Validator(SIMPLE)
    validator.update(good, where="shard 0").update(good, where="shard 1")
    validator.update(bad, where="shard 1")  # the same shard, read in a second batch
    validator.update(bad.drop_columns(["seats"]), where="shard 1")
    anomalies = validator.anomalies()
    assert only(anomalies, "carrier", "out_of_domain").location == "shard 1, row 4"
    assert only(anomalies, "seats", "missing_column").location == "shard 1, row 6"
    assert anomalies.rows == 12


def test_tables_with_many_chunks() -> None:
    table = pa.concat_tables([pa.table(clean_batch(3)), pa.table(clean_batch(3))])
    bad = table.set_column(0, "carrier", pa.chunked_array([["AA", "ZZ", "AA"], ["AA", "AA", "QQ"]]))
    found = only(check(SIMPLE, bad), "carrier", "out_of_domain")
    assert found.count == 2 and found.location == "row 1" and found.examples == ["ZZ", "QQ"]


def test_reports_never_dump_the_data() -> None:
    n = 10_000
    batch = clean_batch(n).set_column(0, "carrier", pa.array([f"{'x' * 500}{i}" for i in range(n)]))
    anomalies = check(SIMPLE, batch)
    bad = only(anomalies, "carrier", "out_of_domain")
    assert bad.count == n and len(bad.examples) == 5
    assert all(isinstance(e, str) and len(e) == 60 for e in bad.examples)
    assert bad.examples[1] == "x" * 38 + "..." + "x" * 18 + "1"  # the end that differs is kept
    assert len(anomalies.to_text()) < 2000
    with pytest.raises(DataValidationError) as info:
        anomalies.raise_for_errors()
    assert len(str(info.value)) < 2000


# -- the report --------------------------------------------------------------------------------


def test_raise_for_errors_names_column_rule_and_examples() -> None:
    batch = clean_batch(3).set_column(0, "carrier", pa.array(["ZZ", "AA", "QQ"]))
    batch = batch.append_column("gate", pa.array([1, 2, 3]))
    anomalies = check(SIMPLE, batch, where="shard 9")
    assert not anomalies.ok and len(anomalies.errors) == 1 and len(anomalies.warnings) == 1
    with pytest.raises(DataValidationError) as info:
        anomalies.raise_for_errors()
    error = info.value
    text = str(error)
    assert "column 'carrier'" in text and "out_of_domain" in text
    assert "'ZZ', 'QQ'" in text and "shard 9, row 0" in text and "2 rows" in text
    assert "1 warning" in text and "gate" not in text
    assert isinstance(error, ShipyardError) and isinstance(error, ValueError)
    assert error.exit_code == 2 and error.anomalies == anomalies.errors
    # Warnings alone pass.
    Anomalies(anomalies.warnings).raise_for_errors()


def test_to_text_is_an_aligned_table() -> None:
    batch = clean_batch(3).set_column(0, "carrier", pa.array(["ZZ", "AA", None]))
    text = check(SIMPLE, batch.drop_columns(["note"])).to_text()
    lines = text.splitlines()
    assert lines[0] == "2 errors, 1 warning in 3 rows"
    header = lines[1]
    assert header.split() == ["SEVERITY", "COLUMN", "RULE", "COUNT", "EXAMPLES", "WHERE", "MESSAGE"]
    rule_at = header.index("RULE")
    assert all(line[rule_at - 2 : rule_at] == "  " for line in lines[2:])
    assert lines[2].startswith("error ") and lines[-1].startswith("warning ")


def test_anomalies_to_dict_and_back() -> None:
    batch = clean_batch(3).set_column(1, "delay", pa.array([float("inf"), 1.0, None]))
    anomalies = check(SIMPLE, batch)
    data = json.loads(json.dumps(anomalies.to_dict(), allow_nan=False))
    assert data["errors"] == 0 and data["warnings"] == 1 and data["rows"] == 3
    assert data["anomalies"][0]["examples"] == ["inf"]
    assert Anomalies.from_dict(data) == anomalies
    with pytest.raises(ValueError, match="not a valid anomalies record"):
        Anomalies.from_dict({"anomalies": [{"column": "a", "rule": "nope"}]})


def test_portable_types() -> None:
    assert portable_type(pa.int16()) == "int" and portable_type("uint64") == "int"
    assert portable_type(pa.decimal128(10, 2)) == "float"
    assert portable_type(pa.dictionary(pa.int8(), pa.large_string())) == "string"
    assert portable_type(pa.timestamp("ns", tz="Europe/Paris")) == "timestamp"
    assert portable_type(pa.date64()) == "date" and portable_type(pa.binary(4)) == "binary"
    assert portable_type(pa.list_(pa.int64())) == "other"


def test_other_columns_compare_their_arrow_type() -> None:
    schema = Schema(columns=[ColumnSchema(name="xs", type="other", arrow_type="list<item: int64>")])
    assert not check(schema, pa.table({"xs": pa.array([[1]], pa.large_list(pa.int64()))}))
    wrong = check(schema, pa.table({"xs": pa.array([["a"]])}))
    assert only(wrong, "xs", "type_mismatch").examples == ["list<item: string>"]


# -- from statistics -------------------------------------------------------------------------


def _drifted(table: pa.Table) -> pa.Table:
    rng = random.Random(11)
    n = table.num_rows
    carriers = table["carrier"].to_pylist()
    for i in rng.sample(range(n), 40):
        carriers[i] = rng.choice(["ZZ", "QQ", None])
    delay = table["delay"].to_pylist()
    delay[5] = 10_000.0
    delay[7] = delay[8] = float("nan")
    return (
        table.set_column(0, "carrier", pa.array(carriers))
        .set_column(1, "distance", table["distance"].cast(pa.float64()))
        .drop_columns(["tail"])
        .append_column("gate", pa.array([1] * n))
        .set_column(2, "delay", pa.array(delay))
    )


def test_validate_stats_agrees_with_the_streaming_validator() -> None:
    schema = infer_schema(statistics(flights(2000, seed=5)), max_domain=10)
    schema.columns[0].nullable = False
    schema.column("delay").max_null_fraction = 0.01
    data = _drifted(flights(3000, seed=6))
    streamed = check(schema, *data.to_batches(max_chunksize=256))
    summarized = validate_stats(schema, statistics(data))

    def key(a: Anomaly) -> tuple[str, str, str]:
        return (a.column, a.rule, a.severity)

    assert [key(a) for a in summarized] == [key(a) for a in streamed]
    assert {key(a) for a in streamed} >= {
        ("carrier", "out_of_domain", "error"),
        ("carrier", "unexpected_nulls", "error"),
        ("distance", "type_mismatch", "error"),
        ("tail", "missing_column", "error"),
        ("gate", "extra_column", "warning"),
        ("delay", "out_of_range", "warning"),
        ("delay", "unexpected_nulls", "error"),
    }
    for a in summarized:
        if a.rule in ("unexpected_nulls", "out_of_domain", "missing_column", "extra_column"):
            assert a.count == only(streamed, a.column, a.rule).count, a
        assert a.location == "statistics"
    assert only(summarized, "delay", "out_of_range").count is None
    assert only(summarized, "delay", "out_of_range").examples == [10_000.0]
    assert sorted(only(summarized, "carrier", "out_of_domain").examples) == ["QQ", "ZZ"]  # type: ignore[type-var]


# -- materializers -----------------------------------------------------------------------------


def test_schema_and_anomalies_are_stored_as_text(tmp_path: Path) -> None:
    # Through the real registry: LAZY_BUILTINS in shipyard/pipeline/materializers.py.
    store = LocalArtifactStore(tmp_path / "arts")
    schema = SIMPLE
    info = materializers.save_value(schema, store)
    assert info["type"] == SchemaMaterializer.name and not info["unsafe"]
    assert (store.path(info["digest"]) / "schema.yaml").read_text() == schema.to_yaml()
    assert materializers.load_value(info["digest"], store) == schema

    anomalies = check(SIMPLE, clean_batch().drop_columns(["seats"]))
    info = materializers.save_value(anomalies, store)
    assert info["type"] == AnomaliesMaterializer.name
    assert info["properties"] == {"errors": 1, "warnings": 0, "rows": 4}
    stored = json.loads((store.path(info["digest"]) / "anomalies.json").read_text())
    assert stored["anomalies"][0]["rule"] == "missing_column"
    assert materializers.load_value(info["digest"], store) == anomalies
