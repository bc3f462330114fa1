"""A ``Generator`` over any OpenAI-compatible server (vLLM, SGLang, ``transformers serve``, OpenAI).

It talks plain HTTP with httpx to ``/v1/completions`` (raw prompts) or ``/v1/chat/completions`` (each
prompt as one user message). Servers differ in what they honour, so the client does not trust them:

* ``n``: a server that returns fewer choices than asked (``transformers serve`` ignores ``n``) is sent
  one request per missing sample, the ``j``-th with ``seed + j``; this is remembered for later calls.
* ``stop``: the text is cut at the first stop string here too, since some servers keep it.
* failures: 429, 5xx and connection errors are retried with exponential backoff (bounded); any other
  error raises ``OpenAIHTTPError`` naming the status, the URL and the server's own message.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence
from urllib.parse import urlsplit

from .protocols import Completion, check_request, cut_at_stop, prompt_seeds, stop_hit

__all__ = ["OpenAIGenerator", "OpenAIHTTPError", "cut_at_stop"]

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIHTTPError(RuntimeError):
    """An HTTP error from the server, with ``status`` and the server's ``message``."""

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(f"HTTP {status} from {url}: {message}")
        self.status, self.url, self.message = status, url, message


def server_message(response: Any) -> str:
    """The server's own error text: OpenAI's ``{"error": {"message": ...}}``, FastAPI's ``{"detail": ...}``,
    vLLM's ``{"message": ...}``, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:1000] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        for key in ("error", "detail", "message"):
            if body.get(key):
                return str(body[key])
    return str(body)[:1000]


class OpenAIGenerator:
    """Samples from an OpenAI-compatible HTTP server.

    Args:
        base_url (`str`): the API root as the OpenAI SDK takes it, e.g. ``http://127.0.0.1:8000/v1``;
            a URL without a path gets ``/v1``.
        model (`str`): the served model's name, sent in every request.
        api_key (`str`, *optional*): sent as a bearer token; defaults to ``$OPENAI_API_KEY`` (none if unset).
        mode (`"completions" | "chat"`, defaults to `"completions"`): which endpoint to call.
        timeout (`float`, defaults to 120): seconds per request.
        max_retries (`int`, defaults to 3): retries of one request after 429/5xx/connection errors, waiting
            ``backoff * 2**attempt`` seconds (at most 30, or the server's ``Retry-After``).
        concurrency (`int`, defaults to 8): requests in flight at once.
        supports_n (`bool`, *optional*): whether the server honours ``n``; found out on the first call if unset.
        server_stop (`bool`, defaults to `True`): send the stop strings to the server, which then stops early.
            Completions are cut at them here in any case, so ``False`` gives the same text with longer
            generations. Needed for ``transformers serve`` with a closed-vocabulary tokenizer such as the
            bundled world policy: transformers' ``StopStringCriteria`` first tokenizes the probe string
            ``"abcdef"`` and fails (HTTP 500) when the vocabulary cannot spell it.

    Example:
        >>> gen = OpenAIGenerator("http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-Math-7B-Instruct")   # doctest: +SKIP
        >>> gen.generate(["Q: 2 + 2?\\nStep 1:"], n=2, stop=["\\n"], seed=0)                   # doctest: +SKIP
        [[' 2 + 2 = 4.', ' Add: 4.']]
    """

    seeds_per_prompt = True  # ``seed`` may be one per prompt (see ``Generator``): each prompt's requests carry its own

    def __init__(self, base_url: str, model: str, *, api_key: Optional[str] = None, mode: str = "completions",
                 timeout: float = 120.0, max_retries: int = 3, backoff: float = 0.5, concurrency: int = 8,
                 supports_n: Optional[bool] = None, server_stop: bool = True) -> None:
        import httpx

        if mode not in ("completions", "chat"):
            raise ValueError(f"mode must be 'completions' or 'chat', got {mode!r}")
        base_url = base_url.rstrip("/")
        if urlsplit(base_url).path in ("", "/"):
            base_url += "/v1"
        self.base_url, self.model, self.mode = base_url, model, mode
        self.url = f"{base_url}/{'chat/completions' if mode == 'chat' else 'completions'}"
        self.max_retries, self.backoff, self.concurrency = max_retries, backoff, max(1, concurrency)
        self.supports_n, self.server_stop = supports_n, server_stop
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "OpenAIGenerator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----------------------------------------------------------------- protocol

    def generate(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None) -> list[list[str]]:
        """``n`` completions of each prompt, the stop string left out (see the module docstring).

        The first request of each prompt asks for all ``n`` (unless the server is known to ignore
        ``n``); missing samples are then fetched one request each, concurrently.
        """
        return [[c.text for c in row] for row in self.complete(prompts, n=n, stop=stop, max_tokens=max_tokens,
                                                                temperature=temperature, seed=seed)]

    def complete(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None,
                 top_logprobs: int = 0, logprobs: bool = False) -> list[list[Completion]]:
        """As ``generate``, with finish reasons and, when asked (``top_logprobs > 0``, ``logprobs``) and the server
        returns them (vLLM, OpenAI; ``transformers serve`` does not), the log-probabilities of the likeliest
        tokens and of each sampled token."""
        stop = check_request(prompts, n, max_tokens, temperature, stop)
        seeds = prompt_seeds(seed, len(prompts)) or [seed] * len(prompts)
        params = dict(max_tokens=max_tokens, temperature=temperature, stop=(stop or None) if self.server_stop else None,
                      top_logprobs=top_logprobs, logprobs=logprobs)
        out: list[list[dict]] = [[] for _ in prompts]
        with ThreadPoolExecutor(self.concurrency) as pool:
            ask = n if self.supports_n is not False else 1
            first = list(pool.map(lambda ps: self.request(ps[0], n=ask, seed=ps[1], **params), zip(prompts, seeds)))
            if ask > 1 and self.supports_n is None and first:
                self.supports_n = all(len(c) >= n for c in first)
            for i, choices in enumerate(first):
                out[i] = choices[:n]
            todo = [(i, j) for i in range(len(prompts)) for j in range(len(out[i]), n)]
            more = pool.map(lambda ij: self.request(prompts[ij[0]], n=1,
                                                    seed=None if seeds[ij[0]] is None else seeds[ij[0]] + ij[1],
                                                    **params), todo)
            for (i, _), choices in zip(todo, more):
                out[i].extend(choices[:1])
        return [[self._completion(c, stop, top_logprobs, logprobs) for c in row] for row in out]

    def _completion(self, choice: dict, stop: list[str], top_logprobs: int = 0, logprobs: bool = False) -> Completion:
        """A choice as a ``Completion``: cut at the stop here, finish "length" only if the server says so and
        no stop string was reached, log-probs from either endpoint's shape (completions: ``logprobs.tokens``,
        ``.top_logprobs``, ``.token_logprobs``; chat: ``logprobs.content[]`` with ``.token``, ``.top_logprobs``,
        ``.logprob``). Each asked-for list covers every token before the cut, or is None: a partial one would
        misplace tokens against ``offsets`` or make up a certainty."""
        raw = (choice.get("message") or {}).get("content") or "" if self.mode == "chat" else choice.get("text") or ""
        hit, text = stop_hit(raw, stop), cut_at_stop(raw, stop)
        finish = "length" if hit is None and choice.get("finish_reason") == "length" else "stop"
        lp = choice.get("logprobs") or {}
        if self.mode == "chat" and lp.get("content"):
            tokens = [t.get("token", "") for t in lp["content"]]
            tops = [{a["token"]: a["logprob"] for a in t.get("top_logprobs") or []} for t in lp["content"]]
            chosen = [t.get("logprob") for t in lp["content"]]
        elif lp.get("tokens") is not None:
            tokens, tops = lp["tokens"], [dict(t or {}) for t in lp.get("top_logprobs") or []]
            chosen = list(lp.get("token_logprobs") or [])
        else:
            return Completion(text, finish, hit, len(raw.split()))
        offsets, at = [], 0
        for t in tokens:
            offsets.append(at)
            at += len(t)
        kept = [j for j, o in enumerate(offsets) if o < len(text)]
        top = tuple(tops[j] for j in kept) if top_logprobs > 0 and len(tops) >= len(kept) else None
        sampled = None
        if logprobs and len(chosen) >= len(kept) and all(isinstance(chosen[j], (int, float)) for j in kept):
            sampled = tuple(float(chosen[j]) for j in kept)
        return Completion(text, finish, hit, len(tokens), top, tuple(offsets[j] for j in kept), sampled)

    # ----------------------------------------------------------------- HTTP

    def payload(self, prompt: str, *, n: int, seed: Optional[int], max_tokens: int, temperature: float,
                stop: Optional[list[str]], top_logprobs: int = 0, logprobs: bool = False) -> dict[str, Any]:
        """The JSON body of one request (``n`` is left out when 1, for servers that reject it)."""
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": temperature}
        if self.mode == "chat":
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if n != 1:
            body["n"] = n
        if stop:
            body["stop"] = stop
        if seed is not None:
            body["seed"] = seed
        if self.mode == "chat" and (top_logprobs or logprobs):
            body.update({"logprobs": True, **({"top_logprobs": top_logprobs} if top_logprobs else {})})
        elif top_logprobs or logprobs:  # completions' logprobs=0 still returns each sampled token's (token_logprobs)
            body["logprobs"] = max(top_logprobs, 0)
        return body

    def request(self, prompt: str, **params: Any) -> list[dict]:
        """POST one request, with retries, and return its choices in index order (each checked for its text)."""
        body = self.payload(prompt, **params)
        data = self._post(body)
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            for c in choices:
                if not isinstance(c["message"].get("content") or "" if self.mode == "chat" else c["text"], str):
                    raise TypeError("the text is not a string")
        except (KeyError, TypeError, AttributeError) as e:
            raise OpenAIHTTPError(200, self.url, f"unexpected response shape ({e!r}): {str(data)[:500]}") from e
        if not choices:
            raise OpenAIHTTPError(200, self.url, f"the response has no choices: {str(data)[:500]}")
        return choices

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as e:  # refused, reset, timed out: the server may be starting
                if last:
                    raise OpenAIHTTPError(0, self.url, f"{type(e).__name__}: {e} "
                                          f"(after {self.max_retries + 1} attempts)") from e
                self._sleep(attempt, None)
                continue
            if response.status_code < 400:
                return response.json()
            if response.status_code not in RETRY_STATUS or last:
                raise OpenAIHTTPError(response.status_code, self.url, server_message(response))
            self._sleep(attempt, response.headers.get("retry-after"))
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: Optional[str]) -> None:
        wait = self.backoff * 2**attempt
        if retry_after:
            try:
                wait = max(wait, float(retry_after))
            except ValueError:  # an HTTP date: keep the backoff
                pass
        time.sleep(min(wait, 30.0))
