"""The generated half of ``docs/cli.md``: every command's ``--help``, exactly.

``python -m shipyard.cli._reference`` rewrites the block between the markers;
a test fails when the file and the real ``--help`` disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "render_reference", "update_file"]

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m shipyard.cli._reference -->"
END = "<!-- END GENERATED REFERENCE -->"
WIDTH = 100


def render_reference() -> str:
    import typer

    from .app import app

    root = typer.main.get_command(app)
    parts: list[str] = []

    def walk(command: Any, path: list[str], parent: Any) -> None:
        ctx = command.context_class(
            command,
            parent=parent,
            info_name=path[-1],
            terminal_width=WIDTH,
            max_content_width=WIDTH,
        )
        text = command.get_help(ctx).rstrip()
        parts.append(f"### `{' '.join(path)}`\n\n```text\n{text}\n```\n")
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, name], ctx)

    walk(root, ["shipyard"], None)
    return "\n".join(parts)


def update_file(path: Path) -> bool:
    """Rewrite the generated block of ``path``; return whether it changed."""
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n\n{render_reference()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
        return True
    return False


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/cli.md")
    print("updated" if update_file(target) else "up to date", target)
