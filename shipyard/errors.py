"""Every user-facing error of Shipyard, under one base class.

Where an error refines a builtin it subclasses that builtin too, so existing
``except ValueError`` clauses keep working. Messages name the field, the value
and what was expected. The CLI maps each class to an exit code in one place
(``exit_code`` below).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "ConfigError",
    "DataSourceError",
    "DataValidationError",
    "EndpointError",
    "GateRejectedError",
    "MaterializerError",
    "PipelineDefinitionError",
    "ReferenceError_",
    "RequestError",
    "ShipyardError",
    "StepFailedError",
    "StoreError",
    "UnsafeArtifactError",
    "exit_code",
]

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_GATE_REJECTED = 3


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(ShipyardError, ValueError):
    """A ``shipyard.yaml`` (or a config given in code) is invalid.

    Parameters
    ----------
    message
        What was wrong and what was expected.
    file, line, field
        Where, when known; they are prefixed to the message.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.line, self.field, self.detail = file, line, field, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if field:
            where += f"field '{field}': "
        super().__init__(where + message)


class ReferenceError_(ShipyardError, ValueError):  # noqa: N801 - builtin ReferenceError is unrelated
    """A reference such as ``name@alias`` or ``run:ID`` is malformed or names nothing."""


class PipelineDefinitionError(ShipyardError, TypeError):
    """A ``@pipeline`` or ``@step`` is used in a way the engine cannot run.

    The message points at the user's file and line where known.
    """


class StepFailedError(ShipyardError, RuntimeError):
    """A step raised, timed out or its worker died, after its retries."""

    exit_code = 1

    def __init__(
        self, step: str, error: str, *, log_path: str | None = None, run_id: str | None = None
    ) -> None:
        self.step, self.error, self.log_path, self.run_id = step, error, log_path, run_id
        msg = f"step '{step}' failed: {error}"
        if log_path:
            msg += f"\n  its log: {log_path}"
        if run_id:
            msg += f"\n  resume with: shipyard run --resume {run_id}"
        super().__init__(msg)


class GateRejectedError(ShipyardError):
    """The evaluation gate rejected the candidate model."""

    exit_code = EXIT_GATE_REJECTED


class DataSourceError(ShipyardError, ValueError):
    """A data source cannot be read: missing, empty or malformed file, unreachable database.

    The message names the file (and line or shard where known).
    """


class DataValidationError(ShipyardError, ValueError):
    """Data broke its schema: the message lists each error's column, rule and examples.

    Parameters
    ----------
    message
        The report.
    anomalies
        The errors found, for code that handles this exception.
    """

    def __init__(self, message: str, *, anomalies: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.anomalies = list(anomalies)


class EndpointError(ShipyardError, ConnectionError):
    """A model server cannot be reached, or refused a request: the URL, status and message named."""


class StoreError(ShipyardError, RuntimeError):
    """The metadata or artifact store cannot be opened or written."""


class ArtifactNotFoundError(ShipyardError, LookupError):
    """No artifact with the given digest or reference exists in the store."""


class ArtifactIntegrityError(ShipyardError, ValueError):
    """A stored file no longer matches the digest recorded when it was written."""


class MaterializerError(ShipyardError, TypeError):
    """A value has no safe on-disk format, or a stored artifact cannot be read back."""


class UnsafeArtifactError(MaterializerError):
    """The artifact is a pickle and the caller did not opt in to loading pickles."""


class RequestError(ShipyardError, ValueError):
    """A request the model server refuses: its HTTP status and a message naming the problem.

    Parameters
    ----------
    message
        What was wrong (the field, what was expected); never the payload itself.
    status
        The HTTP status: 400, 404, 413, 415, 503 or 504.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def exit_code(error: BaseException) -> int:
    """Return the CLI exit code for ``error`` (2 for anything not ours)."""
    if isinstance(error, ShipyardError):
        return error.exit_code
    return EXIT_BAD_INPUT
