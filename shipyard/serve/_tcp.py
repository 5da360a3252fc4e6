"""uvicorn's HTTP protocol with TCP_NODELAY set on every connection.

asyncio turns Nagle's algorithm off only for sockets whose ``proto`` is TCP; a
listening socket handed to uvicorn's worker processes is rebuilt from its file
descriptor with ``proto`` 0, so the workers' connections keep Nagle on. A
response written as headers then body then waits for the client's delayed ACK:
every request took 44 ms with two workers. Imported by uvicorn only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["NoDelayHTTPProtocol"]


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """The protocol uvicorn picks (httptools when installed, else h11), without Nagle."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):  # not TCP (a Unix socket)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
