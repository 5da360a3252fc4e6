"""docs/cli.md stays in step with the real command tree."""

from __future__ import annotations

import re

import typer

from shipyard.cli._reference import BEGIN, END, render_reference
from shipyard.cli.app import app

from ..conftest import REPO

DOC = REPO / "docs" / "cli.md"


def test_generated_reference_matches_help() -> None:
    text = DOC.read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == render_reference().strip(), (
        "docs/cli.md is out of date: run `python -m shipyard.cli._reference docs/cli.md`"
    )


def _commands() -> set[str]:
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="shipyard")
    names = set()
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        sub = root.get_command(ctx, name)  # type: ignore[attr-defined]
        names.add(name)
        if hasattr(sub, "list_commands"):
            names |= {f"{name} {s}" for s in sub.list_commands(ctx)}
    return names


def test_the_tree_lists_every_available_command_and_only_those() -> None:
    rows = re.findall(r"^\| `shipyard ([^`]+)` \| .* \| (now|[^|]+) \|$", DOC.read_text(), re.M)
    available = {usage for usage, status in rows if status.strip() == "now"}
    documented = set()
    for usage in available:
        words = [w for w in usage.split() if re.fullmatch(r"[a-z]+", w)]
        documented.add(words[0])
        if words[0] == "config":
            documented |= {"config show", "config schema", "config check"}
        if words[0] in ("data", "models", "tune", "monitor"):
            documented.add(f"{words[0]} {words[1]}")
    real = _commands()
    assert documented == real, f"documented now: {sorted(documented)}, real: {sorted(real)}"
