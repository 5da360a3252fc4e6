"""``shipyard predict``: batch prediction from a registered model or an exported bundle."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError
from ._format import console, echo_json

if TYPE_CHECKING:
    from ..bundle import Bundle

__all__ = ["register"]


@contextlib.contextmanager
def open_bundle(
    ref: str | None, bundle_path: Path | None, *, trust_code: bool = False
) -> Iterator[Bundle]:
    """The bundle of a registered version, or of an exported folder or archive (no store)."""
    from ..bundle import load_bundle
    from ..bundle.bundle import extract_archive

    if (ref is None) == (bundle_path is None):
        raise ConfigError("name the model: NAME@ALIAS, or --bundle DIR for an exported bundle")
    if bundle_path is not None:
        if bundle_path.is_file() and bundle_path.name.endswith((".tar.gz", ".tgz")):
            with tempfile.TemporaryDirectory(prefix="shipyard-bundle-") as tmp:
                yield load_bundle(extract_archive(bundle_path, Path(tmp)), trust_code=trust_code)
            return
        yield load_bundle(bundle_path, trust_code=trust_code)
        return
    from ._models import version_bundle

    assert ref is not None
    _, folder = version_bundle(ref)
    yield load_bundle(folder, trust_code=trust_code)


def predict(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[NAME@ALIAS] INPUT OUTPUT",
            help="The model (left out with --bundle), a CSV or Parquet file, and the Parquet file to write.",
        ),
    ],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", metavar="DIR", help="An exported bundle (folder or .tar.gz)."),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            metavar="COLUMN",
            help="Input column copied to the output (repeat); default: the key.",
        ),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, metavar="N", help="Rows per batch.")
    ] = 65_536,
    trust_code: Annotated[
        bool,
        typer.Option("--trust-code", help="Load a bundle that holds model code (runs that code)."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Predict a CSV or Parquet file into a Parquet file, in batches, with the model's transform."""
    from ..bundle.batch import predict_file

    expected = 2 if bundle is not None else 3
    if len(args) != expected:
        usage = "--bundle DIR INPUT OUTPUT" if bundle is not None else "NAME@ALIAS INPUT OUTPUT"
        raise ConfigError(f"expected {usage}; got {len(args)} argument(s): {' '.join(args)}")
    ref = None if bundle is not None else args[0]
    source, output = Path(args[-2]), Path(args[-1])
    with (
        open_bundle(ref, bundle, trust_code=trust_code) as loaded,
        _bar(source, enabled=not json_out) as advance,
    ):
        result = predict_file(
            loaded, source, output, keep=keep, batch_rows=batch_rows, progress=advance
        )
    if json_out:
        echo_json(result.__dict__ | {"rows_per_second": result.rows_per_second})
        return
    console().print(
        f"predicted {result.rows:,} rows of {source} with {loaded.name} ({loaded.task}) in"
        f" {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s)\n"
        f"wrote {output}: columns {', '.join(result.columns)}"
    )


@contextlib.contextmanager
def _bar(source: Path, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rows counter on terminals; a no-op elsewhere."""
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn(f"predicting {source.name}: {{task.completed:,}} rows"),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("predict", total=None)
        yield lambda n: progress.advance(task, n)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
