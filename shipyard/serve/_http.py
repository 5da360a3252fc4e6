"""The HTTP edge: bounded bodies, content types, JSON in and out, error bodies.

Bodies are decoded with orjson only (it builds plain dicts, lists, strings and
numbers and runs no code); a content type the route does not read is 415
whatever it claims to be.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import RequestError

__all__ = ["json_body", "json_response", "media_type", "read_body"]

JSON = "application/json"


def media_type(request: Request) -> tuple[str, str | None]:
    """The request's media type (lower case, '' when absent) and its charset, if any."""
    header = request.headers.get("content-type", "")
    kind, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def check_media(request: Request, accepted: tuple[str, ...]) -> str:
    """The media type if the route reads it (a missing header counts as JSON), else 415."""
    kind, charset = media_type(request)
    if kind == "":
        kind = JSON
    if kind not in accepted:
        raise RequestError(
            f"unsupported content type {kind[:64]!r}; send {' or '.join(accepted)}", 415
        )
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise RequestError(f"unsupported charset {charset[:32]!r}; send utf-8", 415)
    return kind


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to pass ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError("the Content-Length header is not a number")
        if int(declared) > limit:
            raise RequestError(
                f"the body of {int(declared):,} bytes is over the limit of {limit:,} bytes"
                " (limits.max_body_bytes)",
                413,
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(
                f"the body is over the limit of {limit:,} bytes (limits.max_body_bytes)", 413
            )
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(body: bytes | memoryview) -> Any:
    """JSON text decoded by orjson; 400 for empty or malformed text."""
    if not len(body):
        raise RequestError("the body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON: {str(exc)[:120]}") from None


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """``content`` as JSON (NaN and Infinity written as null)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        headers=headers,
        media_type=JSON,
    )
