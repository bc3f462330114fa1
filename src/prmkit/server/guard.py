"""``Guard``: the plain ASGI middleware in front of every route (no per-request task, unlike Starlette's
``BaseHTTPMiddleware``).

In order: the ``Host`` check (token-less loopback mode: a DNS-rebinding page sends its own host name), the
bearer token, the body (a POST must declare its length, stay under the limit and arrive within the body
timeout; it is read here, then replayed to the app), and, in a ``finally``, one count and one latency
sample per request under its route template, whatever the status, 5xx and refusals included.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import Any, Callable, Optional

from .config import LOOPBACK, ServeConfig
from .metrics import UNMATCHED, Metrics
from .protocol import error

__all__ = ["Guard"]

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _host_name(host: bytes) -> str:
    """``b"localhost:8000"`` -> ``"localhost"``, ``b"[::1]:8000"`` -> ``"[::1]"``."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[: text.find("]") + 1]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


class Guard:
    """Refuses what must not reach a route and counts every request.

    Args:
        routers: the app's router and the routers included in it; their routes are the label set.
    """

    def __init__(self, app: Any, config: ServeConfig, metrics: Metrics, routers: list) -> None:
        self.app, self.config, self.metrics, self.routers = app, config, metrics, routers
        self.expected = f"Bearer {config.token}".encode() if config.token else None
        self.check_host = config.token is None and config.host in LOOPBACK

    def route_of(self, scope: dict) -> str:
        """The template of the route ``scope`` matches (a fixed set), or ``UNMATCHED``."""
        from starlette.routing import Match

        for router in self.routers:
            for route in router.routes:
                if hasattr(route, "path") and route.matches(scope)[0] != Match.NONE:  # FULL, or PARTIAL (405)
                    return route.path
        return UNMATCHED

    def refusal(self, scope: dict, headers: dict) -> Optional[tuple[int, str]]:
        host = headers.get(b"host")
        if self.check_host and host is not None and _host_name(host) not in _LOOPBACK_NAMES:
            return 400, (f"host {host.decode('latin-1')[:100]!r} is not served: without a token only loopback "
                         "names (127.0.0.1, localhost, [::1]) are accepted")
        if self.expected and scope["path"] != "/health" and not hmac.compare_digest(
                headers.get(b"authorization", b""), self.expected):
            return 401, "missing or wrong bearer token (Authorization: Bearer ...)"
        if scope["method"] == "POST":
            size = headers.get(b"content-length", b"")
            if not size.isdigit():
                return 411, "a request body needs a Content-Length header"
            if int(size) > self.config.max_request_bytes:
                return 413, f"request body larger than {self.config.max_request_bytes} bytes"
        return None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            headers = dict(scope["headers"])
            refused = self.refusal(scope, headers)
            if refused is None and scope["method"] == "POST":
                body = await self.read_body(receive)
                if body is None:
                    refused = (408, f"the request body did not arrive within {self.config.body_timeout:g} s")
                else:
                    receive = _replay(body, receive)
            if refused is not None:
                return await _send_error(watch, *refused)
            return await self.app(scope, receive, watch)
        finally:
            self.metrics.observe(self.route_of(scope), status[0], time.perf_counter() - started)

    async def read_body(self, receive: Callable) -> Optional[bytes]:
        """The whole body, or None when it does not arrive within ``body_timeout`` seconds in all."""
        chunks, more = [], True
        deadline = time.monotonic() + self.config.body_timeout
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
            except asyncio.TimeoutError:
                return None
            if message["type"] == "http.disconnect":
                return b"".join(chunks)  # the app will see the disconnect too
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        return b"".join(chunks)


def _replay(body: bytes, receive: Callable) -> Callable:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()  # http.disconnect, when it comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_error(send: Callable, status: int, message: str) -> None:
    body = json.dumps(error(message, status)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 408:
        headers.append((b"connection", b"close"))  # the rest of the body may still come; do not read it as a request
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
