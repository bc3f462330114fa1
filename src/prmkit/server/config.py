"""``ServeConfig``: every setting of ``prmkit serve``, validated on construction (stdlib only).

A bad value raises ``ValueError`` naming the field, which the CLI prints as one line (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["ServeConfig", "LOOPBACK", "parse_separator"]

LOOPBACK = ("127.0.0.1", "::1", "localhost")

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def parse_separator(typed: str) -> str:
    """The separator a user typed on a shell line: ``\\n``, ``\\t``, ``\\r`` and ``\\\\`` are escapes,
    every other character (``ки``, ``\\u0041``) is taken literally.

    Example:
        >>> parse_separator("\\\\n\\\\n"), parse_separator(" ки"), parse_separator("\\\\u0041")
        ('\\n\\n', ' ки', '\\\\u0041')
    """
    out, i = [], 0
    while i < len(typed):
        if typed[i] == "\\" and i + 1 < len(typed) and typed[i + 1] in _ESCAPES:
            out.append(_ESCAPES[typed[i + 1]])
            i += 2
        else:
            out.append(typed[i])
            i += 1
    return "".join(out)


@dataclass
class ServeConfig:
    """Server settings (``prmkit serve --help`` shows each as a flag).

    Args:
        model / spec: the scorer (``load_scorer``).
        host / port: where to listen; anything but loopback needs ``token``. Without a token, requests must
            name a loopback host in their ``Host`` header (a DNS-rebinding guard).
        token: the bearer token clients must send (``Authorization: Bearer ...``).
        separator: splits raw texts into steps, taken literally (``parse_separator`` reads what was typed).
        max_batch_items / max_wait_ms: micro-batching: each scorer call takes the queued requests (up to
            ``max_batch_items`` solutions), so requests that arrive while the scorer is busy share the next call;
            ``max_wait_ms > 0`` also waits that long for company first; ``max_batch_items=1`` scores one
            request per call.
        max_request_bytes / max_items / max_steps / max_chars: request limits: body bytes (413), items or
            inputs per request, steps per solution, and characters per string (422 beyond them).
        request_timeout: seconds a request may wait for its scores (504 after that).
        body_timeout: seconds a client has to send the whole request body (408 after that).
        limit_concurrency: open connections and requests in flight at most (uvicorn answers 503 beyond).
        shutdown_timeout: seconds a SIGTERM waits for requests in flight before cancelling them.
        policy: the generator (``load_generator``: a model folder, hub id, ``bundled-policy``, a server URL);
            with one, ``/v1/chat/completions`` and ``/v1/completions`` answer, searched with the PRM when a
            request names a ``budget`` (completions.py).
        template: the policy's prompt, ``{question}`` replaced by the question (chat: the user message).
        max_budget: the largest ``budget`` (and ``n``) a request may ask for (422 beyond).
        search_concurrency / search_queue: searches (and pass-through generations) running at once, each in
            a worker thread, and how many more may wait for one; a request beyond them gets 429.
    """

    model: str
    spec: Optional[str] = None
    host: str = "127.0.0.1"
    port: int = 8000
    token: Optional[str] = None
    separator: str = "\n"
    max_batch_items: int = 64
    max_wait_ms: float = 0.0
    max_request_bytes: int = 4_000_000
    max_items: int = 1024
    max_steps: int = 512
    max_chars: int = 200_000
    request_timeout: float = 120.0  # under OpenRLHF's 180 s client timeout, so its log shows our 504 and why
    body_timeout: float = 15.0
    limit_concurrency: int = 1024
    shutdown_timeout: float = 10.0
    policy: Optional[str] = None
    template: str = "{question}\n"
    max_budget: int = 64
    search_concurrency: int = 1
    search_queue: int = 8

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK and not self.token:
            raise ValueError(f"refusing to listen on {self.host} without a token: pass --token (or PRMKIT_TOKEN), "
                             "or bind 127.0.0.1")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not in 1..65535")
        if not self.separator:
            raise ValueError("separator is empty: give the string that ends a step, e.g. '\\n' or ' ки'")
        for name in ("max_batch_items", "max_request_bytes", "max_items", "max_steps", "max_chars",
                     "limit_concurrency", "max_budget", "search_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.search_queue < 0:
            raise ValueError(f"search_queue must be 0 or more, got {self.search_queue}")
        try:
            formatted = self.template.format(question="\0")
        except (KeyError, IndexError, ValueError, AttributeError) as e:
            raise ValueError(f"template {self.template!r} is not a format string with only {{question}} in it "
                             f"({type(e).__name__}: {e}); write literal braces as {{{{ and }}}}") from None
        if "\0" not in formatted:
            raise ValueError(f"template {self.template!r} has no {{question}}: the policy would never see the question")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, got {self.max_wait_ms:g}")
        for name in ("request_timeout", "body_timeout", "shutdown_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0 seconds, got {getattr(self, name):g}")
