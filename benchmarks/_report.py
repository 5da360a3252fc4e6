"""What the benchmark scripts print alike (run as ``python benchmarks/NAME.py``: this
folder is then first on ``sys.path``)."""

from __future__ import annotations


def print_table(rows: list[list[str]]) -> None:
    """Rows of text as left-aligned columns, a rule under the header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
