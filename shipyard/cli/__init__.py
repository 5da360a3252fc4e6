"""The ``shipyard`` command.

Errors become exit codes here and nowhere else: 0 ok, 1 a step failed,
2 bad input or config, 3 the gate rejected the model. Tracebacks are shown
only with ``--debug``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) its exit code."""
    from ..errors import ShipyardError, exit_code
    from .app import app

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("SHIPYARD_DEBUG") == "1"
    returned = None
    try:
        # Not standalone: click hands back `typer.Exit` codes instead of exiting.
        returned = app(args=args, prog_name="shipyard", standalone_mode=False)
    except ShipyardError as exc:
        _report(exc, debug)
        code = exit_code(exc)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a trace
        # Typer vendors its own click in some versions; recognise its exceptions by shape.
        if type(exc).__name__ == "Abort":
            code = 130
        elif callable(getattr(exc, "show", None)) and isinstance(
            getattr(exc, "exit_code", None), int
        ):
            exc.show()  # type: ignore[attr-defined]  # usage errors: "Usage: ... Error: Invalid value for '--workers' ..."
            code = 2
        else:
            _report(exc, debug, internal=True)
            code = 1
    else:
        code = returned if isinstance(returned, int) else 0
    if argv is None:
        sys.exit(code)
    return code


def _report(exc: BaseException, debug: bool, internal: bool = False) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc)
    prefix = "internal error" if internal else "error"
    sys.stderr.write(f"{prefix}: {exc}\n")
    if internal and not debug:
        sys.stderr.write("run again with --debug for the traceback\n")
