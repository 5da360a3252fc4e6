"""Schemathesis against the server's own /openapi.json: no 5xx and responses that match it.

Every operation gets up to 100 generated cases (derandomized; a GET without
parameters has only one or two distinct cases, every POST gets 100), checked
with ``not_a_server_error`` and ``response_schema_conformance``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from .conftest import Server

CASES = 100


@pytest.mark.slow  # about 20 s: 100 cases for each of the 6 POST operations
def test_the_openapi_document_holds_for_every_operation(bundle_server: Server) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{bundle_server.url}/openapi.json")
    counts: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label
        counts[label] = 0

        @settings(
            max_examples=CASES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            counts[case.operation.label] += 1
            case.call_and_validate(
                base_url=bundle_server.url,
                checks=[not_a_server_error, response_schema_conformance],
            )

        run()
    assert len(counts) >= 18
    assert all(n >= CASES for op, n in counts.items() if op.startswith("POST")), counts
