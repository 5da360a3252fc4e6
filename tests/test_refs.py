from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.errors import ReferenceError_
from shipyard.refs import Ref, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("flights@production", Ref("alias", "flights", alias="production")),
        ("flights:3", Ref("version", "flights", version=3)),
        ("flights", Ref("model", "flights")),
        ("run:0a1B2c3d", Ref("run", "0a1b2c3d")),
        ("artifact:abcd1234", Ref("artifact", "abcd1234")),
    ],
)
def test_parses_each_form(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty reference"),
        ("flights:0", "positive integer"),
        ("flights:x", "positive integer"),
        ("../etc@prod", "model name"),
        ("a@b@c", "alias"),
        ("run:zz", "run ID"),
        ("artifact:ABC", "sha256 prefix"),
        ("flights@", "alias"),
        ("with space", "model name"),
    ],
)
def test_rejects_with_a_reason(text: str, needle: str) -> None:
    with pytest.raises(ReferenceError_, match=needle):
        parse_ref(text)


@given(st.text(min_size=1, max_size=40))
def test_never_yields_a_path_like_name(text: str) -> None:
    try:
        ref = parse_ref(text)
    except ReferenceError_:
        return
    assert "/" not in ref.name and "\\" not in ref.name and not ref.name.startswith(".")
    assert str(parse_ref(str(ref))) == str(ref)
