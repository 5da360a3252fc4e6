from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import pipeline, step
from shipyard.errors import PipelineDefinitionError
from shipyard.pipeline.dag import Pipeline
from shipyard.pipeline.step import Output


@step
def one(n: int = 1) -> int:
    return n


@step
def add(a: int, b: int) -> int:
    return a + b


@step
def pair(x: int) -> tuple[int, int]:
    return x, -x


@step
def total(values: list[int]) -> int:
    return sum(values)


def test_a_step_outside_a_pipeline_is_its_function() -> None:
    assert add(2, 3) == 5
    assert pair(4) == (4, -4)


def test_tracing_builds_nodes_edges_and_parameters() -> None:
    @pipeline
    def p(n: int = 2) -> None:
        a, b = pair(one(n))
        add(a, b)

    graph = p.trace(p.resolve_params({}))
    assert list(graph.nodes) == ["one", "pair", "add"]
    assert graph.nodes["one"].literals() == {"n": 2}
    assert graph.nodes["add"].upstream == ["pair"]
    assert graph.downstream("one") == ["pair"]


def test_a_loop_makes_one_node_per_call_and_fan_in_works() -> None:
    @pipeline
    def p() -> None:
        total([one(i) for i in range(4)])

    graph = p.trace({})
    assert list(graph.nodes) == ["one", "one_2", "one_3", "one_4", "total"]
    assert graph.nodes["total"].upstream == ["one", "one_2", "one_3", "one_4"]


def test_looking_at_a_placeholder_is_a_clear_error() -> None:
    @pipeline
    def p() -> None:
        if one(1):
            pass

    with pytest.raises(PipelineDefinitionError, match="placeholder"):
        p.trace({})


def test_wrong_arguments_name_the_file_and_line() -> None:
    @pipeline
    def p() -> None:
        add(1)

    with pytest.raises(PipelineDefinitionError, match=r"test_dag\.py:\d+: calling step 'add'"):
        p.trace({})


def test_unrecordable_parameters_are_refused() -> None:
    @pipeline
    def p() -> None:
        one(object())  # type: ignore[arg-type]

    with pytest.raises(PipelineDefinitionError, match="argument 'n'"):
        p.trace({})


def test_pipeline_parameters_are_checked() -> None:
    @pipeline
    def p(depth: int) -> None:
        one(depth)

    with pytest.raises(PipelineDefinitionError, match="no parameter 'dpth'"):
        p.resolve_params({"dpth": 1})
    with pytest.raises(PipelineDefinitionError, match="needs a value for 'depth'"):
        p.resolve_params({})


def test_a_pipeline_without_steps_is_an_error() -> None:
    @pipeline
    def p() -> None:
        pass

    with pytest.raises(PipelineDefinitionError, match="called no @step"):
        p.trace({})


def test_step_options_are_validated() -> None:
    with pytest.raises(PipelineDefinitionError, match="unknown option"):
        step(retry=3)
    with pytest.raises(PipelineDefinitionError, match="retries must be >= 0"):
        step(retries=-1)
    assert step(timeout=5)(lambda: 1).options.timeout_s == 5

    with pytest.raises(PipelineDefinitionError, match="generators"):

        @step
        def gen() -> object:
            yield 1


def test_public_names() -> None:
    import shipyard

    assert isinstance(shipyard.pipeline(lambda: None), Pipeline)
    assert repr(Output("a", 1)) == "<output of step 'a'[1]>"
    assert callable(shipyard.step) and callable(shipyard.run)
    assert Path(shipyard.__file__).name == "__init__.py"
