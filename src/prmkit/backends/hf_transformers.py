"""One scorer for every Hugging Face PRM: the ``PRMSpec`` says how to render and what to read.

Each solution is rendered once and scored in **one forward pass** that reads every step's score at
its step-tag token (never one pass per prefix). Solutions are batched by a token budget after
sorting by length, in ``torch.inference_mode``, on CPU or CUDA, in fp32/bf16. Inputs longer than
the model's limit follow an explicit ``overflow`` policy and the steps left unscored are reported
(``None`` scores plus counters in ``self.report``), never dropped silently.

Why read at character offsets rather than searching for a tag's token id: a step's own text can
contain the tag's token (``"\\n"``), and ``" +"`` and ``"+"`` are different ids; locating the tag we
inserted by its characters, then checking it is one token there, is exact.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from ..types import Problem, Solution, StepScores
from .families import PRMSpec, get_spec

__all__ = ["HFStepScorer", "Encoded", "single_token_id", "token_logprobs", "default_cache_bytes"]

log = logging.getLogger(__name__)


@dataclass
class Encoded:
    """Token ids of one rendered solution and, per step, the position its score is read at."""

    input_ids: list[int]
    read_positions: list[Optional[int]]  # None: the step fell past max_length
    start: int = 0  # index of the first token of the solution (after the question); implicit PRMs sum from here


def single_token_id(tokenizer: Any, text: str) -> int:
    """The id of ``text``, which must be exactly one token (raises ``ValueError`` naming the pieces)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise ValueError(f"{text!r} is {len(ids)} tokens {pieces} for this tokenizer, not one; fix the spec")
    return ids[0]


def token_logprobs(model: Any, ids: torch.Tensor, mask: Optional[torch.Tensor], *, past: Any = None,
                   prev_logits: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
    """``[B, T]`` log-probability of each token given the ones before it, from a causal LM.

    Without ``past``: the first token gets 0, and only the log-probs are returned. With ``past`` (a KV cache
    of the tokens before ``ids``, updated in place) and ``prev_logits`` (``[B, V]``, the logits at the last
    of those tokens; None when there are none, and the first token gets 0), every token of ``ids`` gets its
    log-prob, and ``(logprobs, logits [B, T, V])`` is returned, to carry on from.
    """
    logits = model(input_ids=ids, attention_mask=mask, past_key_values=past, use_cache=past is not None).logits.float()
    head = logits[:, :-1] if prev_logits is None else torch.cat([prev_logits[:, None].float(), logits[:, :-1]], 1)
    targets = ids[:, 1:] if prev_logits is None else ids
    picked = torch.gather(head, -1, targets[..., None])[..., 0] - head.logsumexp(-1)
    if prev_logits is None:
        picked = torch.nn.functional.pad(picked, (1, 0))
    return picked if past is None else (picked, logits)


@dataclass
class PrefixState:
    """What scoring a solution leaves behind for scoring its extensions (``HFStepScorer(incremental=True)``):
    the token ids read and the KV cache (per layer ``(keys, values)`` when stored, a ``DynamicCache`` while
    reading), and for implicit PRMs the reference's cache, both models' logits at the last token and the
    cumulative ``beta * Σ log-ratio`` so far (``[rows, 1]``, or per new position after reading)."""

    ids: list[int]
    past: Any
    ref_past: Any = None
    last_logits: Optional[torch.Tensor] = None
    ref_last_logits: Optional[torch.Tensor] = None
    q: Any = 0.0

    def nbytes(self) -> int:
        """Bytes of the stored tensors (each its own compact copy, so this is what keeping it costs)."""
        pairs = list(self.past or []) + list(self.ref_past or [])
        tensors = [t for pair in pairs for t in pair] + [self.last_logits, self.ref_last_logits, self.q]
        return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def default_cache_bytes(device: torch.device) -> int:
    """The default byte budget of the incremental scorer's prefix cache: a quarter of the CUDA device's free
    memory when the scorer is built (after the models loaded; the rest is left to forward passes and a
    policy on the same device), else 1 GiB of host memory."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free // 4
    return 2**30


def _resolve_dtype(dtype: Any, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    names = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
             "fp16": torch.float16, "float16": torch.float16}
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(names)} or auto")
    return names[dtype]


def _resolve_device(device: Any) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


SHARE_MIN_TOKENS = 16  # the fewest tokens a shared prefix must save to be read as a row of its own
_KNOWN = object()  # a step read before, inside the base prefix: the caller has its score


def _common_prefix(rows: Sequence[list[int]]) -> int:
    """Length of the longest common prefix of the token lists."""
    first, n = rows[0], min(len(r) for r in rows)
    for row in rows[1:]:
        k = 0
        while k < n and row[k] == first[k]:
            k += 1
        n = k
    return n


def _row(state: PrefixState, r: int, ids: list[int]) -> PrefixState:
    """Row ``r`` of a batch ``state`` after reading, cut to the ``len(ids)`` tokens ``ids``: compact copies (a
    view would keep the whole batch's tensor alive, uncounted), as a state to read on or to keep."""
    end, last = len(ids), len(ids) - len(state.ids) - 1
    layers = [(layer.keys[r: r + 1, :, :end].clone(), layer.values[r: r + 1, :, :end].clone())
              for layer in state.past.layers]
    out = PrefixState(list(ids), layers, [])
    if state.ref_past is not None:  # the implicit PRM carries on from the last token's logits and q
        out.ref_past = [(layer.keys[r: r + 1, :, :end].clone(), layer.values[r: r + 1, :, :end].clone())
                        for layer in state.ref_past.layers]
        out.last_logits = state.last_logits[r: r + 1, last].clone()
        out.ref_last_logits = state.ref_last_logits[r: r + 1, last].clone()
        out.q = state.q[r: r + 1, last].clone()
    return out


class HFStepScorer:
    """A ``StepScorer`` over any transformers model, driven by a ``PRMSpec``.

    Args:
        model: a loaded transformers model matching ``spec.head``.
        tokenizer: its fast tokenizer (character offsets are needed).
        spec (`PRMSpec`): how to render and read.
        max_batch_tokens (`int`, *optional*): padded tokens per forward pass; defaults to 32768 on CUDA
            and 2048 on CPU, where batching buys no parallelism and padding is pure waste (measured in
            benchmarks/score_throughput.py: 2048 is 1.35x faster than 8192 on 2 cores).
        max_length (`int`, *optional*): longest input; defaults to the model's position limit.
        overflow (`"truncate" | "error"`, defaults to `"truncate"`): for longer inputs, keep the first
            ``max_length`` tokens and give the steps past it ``None`` (counted in ``report``), or raise.
        reference: the reference model of an ``implicit`` spec (same tokenizer).
        incremental (`bool`, defaults to `False`): for search, where solutions grow a step at a time: keep
            the KV cache (a ``PrefixState``) of each solution scored, and read only the new tokens of a
            solution that extends one already scored. Scores equal full re-scoring's (tested to 1e-4); a
            solution whose tokens do not extend its prefix's (a tokenizer merging across the step boundary),
            or whose prefix was evicted, is read in full. ``release(problem)`` drops a problem's states (the
            search strategies call it when a problem's search ends).
        max_cache_bytes (`int`, *optional*): the most bytes the cached states may hold (checked after every
            call; the least recently used go first, a state larger than the budget is not kept); defaults to
            ``default_cache_bytes(device)``: a quarter of free CUDA memory, or 1 GiB on CPU. 0 caches nothing.
        share_prefix (`bool`, defaults to `True`): solutions of one question scored in one call (Best-of-N's
            candidates, a reranking set, the first steps of a search) read the tokens they all share once, as
            a row of their own, and the rest on top of its cache, when that saves ``SHARE_MIN_TOKENS`` tokens.
            Scores equal reading each in full (tested to 1e-4); ``report["tokens"]`` counts what was read.
    """

    def __init__(self, model: Any, tokenizer: Any, spec: PRMSpec, *, max_batch_tokens: Optional[int] = None,
                 max_length: Optional[int] = None, overflow: str = "truncate", reference: Any = None,
                 incremental: bool = False, max_cache_bytes: Optional[int] = None, share_prefix: bool = True) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("HFStepScorer needs a fast tokenizer (character offsets)")
        if overflow not in ("truncate", "error"):
            raise ValueError(f"overflow must be 'truncate' or 'error', got {overflow!r}")
        if (spec.head == "implicit") != (reference is not None):
            raise ValueError(f"spec {spec.name!r}: a reference model is needed by, and only by, implicit PRMs")
        self.model, self.tokenizer, self.spec = model.eval(), tokenizer, spec
        self.reference = reference.eval() if reference is not None else None
        self.device = next(model.parameters()).device
        self.max_batch_tokens = max_batch_tokens or (32768 if self.device.type == "cuda" else 2048)
        self.overflow = overflow
        limit = getattr(model.config, "max_position_embeddings", None) or 10**9
        self.max_length = min(max_length or limit, limit)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.word_ids = [single_token_id(tokenizer, w) for w in spec.label_words] if spec.label_words else None
        if spec.step_tag.strip() and spec.template != "chat_turns":
            single_token_id(tokenizer, spec.step_tag.strip())  # the tag must be one token on its own
        self.report: Counter = Counter()
        self.incremental, self.share_prefix = incremental, share_prefix
        self.max_cache_bytes = default_cache_bytes(self.device) if max_cache_bytes is None else max_cache_bytes
        self._states: OrderedDict = OrderedDict()  # (question, steps) -> (PrefixState, scores, bytes), LRU first
        self.cached_bytes = 0

    @classmethod
    def from_pretrained(cls, model: str, spec: "str | PRMSpec | None" = None, *, device: Any = "auto",
                        dtype: Any = "auto", **kwargs: Any) -> "HFStepScorer":
        """Load a model folder or hub id; the spec comes from ``spec``, the folder's ``prmkit_spec.json``
        or the hub id's preset (``prmkit ls scorers``)."""
        import transformers

        spec = get_spec(spec, model)
        dev = _resolve_device(device)
        tokenizer = transformers.AutoTokenizer.from_pretrained(model, trust_remote_code=spec.trust_remote_code)
        auto = getattr(transformers, spec.auto_class)
        loaded = auto.from_pretrained(model, dtype=_resolve_dtype(dtype, dev), trust_remote_code=spec.trust_remote_code)
        if spec.head == "implicit":
            local = Path(model) / spec.reference
            ref = str(local) if local.is_dir() else spec.reference
            kwargs["reference"] = auto.from_pretrained(ref, dtype=_resolve_dtype(dtype, dev)).to(dev)
        return cls(loaded.to(dev), tokenizer, spec, **kwargs)

    # ----------------------------------------------------------------- rendering

    def render(self, problem: Problem, steps: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
        """The input text and, per step, the character span whose last token is read.

        For ``chat_turns`` the span is the assistant's label word and the token before it is read.
        The first step starts where the first span's step text starts (``encode`` uses it for ``start``).
        """
        spec = self.spec
        if spec.template == "chat_turns":
            return self._render_turns(problem, steps)
        body, spans = [], []
        pos = 0
        for k, step in enumerate(steps, 1):
            piece = spec.step_prefix.format(k=k) + step
            start = pos + len(piece)
            spans.append((start, start + len(spec.step_tag)))
            piece += spec.step_tag + spec.step_separator
            body.append(piece)
            pos += len(piece)
        content = "".join(body)
        if spec.template == "plain":
            head = problem.question + spec.question_separator
        else:
            messages = ([{"role": "system", "content": spec.system_prompt}] if spec.system_prompt else [])
            messages += [{"role": "user", "content": problem.question}, {"role": "assistant", "content": content}]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
            at = text.rfind(content) if content else len(text)
            if at < 0:
                raise ValueError("the chat template changes the assistant's text; it cannot be scored step by step")
            head, content = text[:at], text[at:]
        return head + content, [(a + len(head), b + len(head)) for a, b in spans]

    def _render_turns(self, problem: Problem, steps: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
        word = self.spec.label_words[0]
        sentinels = [f"\u2063{k}\u2063" for k in range(len(steps))]
        messages = []
        for k, step in enumerate(steps):
            messages.append({"role": "user", "content": f"{problem.question} {step}" if k == 0 else step})
            messages.append({"role": "assistant", "content": sentinels[k]})
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        spans, out, rest = [], "", text
        for s in sentinels:
            before, sep, rest = rest.partition(s)
            if not sep:
                raise ValueError("the chat template changes the assistant's text; it cannot be scored step by step")
            out += before
            spans.append((len(out), len(out) + len(word)))
            out += word
        return out + rest, spans

    def encode(self, problem: Problem, steps: Sequence[str]) -> Encoded:
        """Tokenize the rendered text once and map each step's span to its read position."""
        text, spans = self.render(problem, steps)
        enc = self.tokenizer(text, add_special_tokens=self.spec.template == "plain", return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        ends, last = [], 0
        for s, e in offsets:  # special tokens have empty spans: carry the previous end to keep this sorted
            last = e if e > s else last
            ends.append(last)
        first_char = spans[0][0] - len(self.spec.step_prefix.format(k=1) + steps[0]) if spans and self.spec.template != "chat_turns" else 0
        solution_start = bisect.bisect_right(ends, first_char)
        positions: list[Optional[int]] = []
        for start, end in spans:
            i = bisect.bisect_left(ends, end)
            if i == len(ids) or offsets[i][0] >= end:
                raise ValueError(f"no token covers the span {text[start:end]!r} of step {len(positions) + 1}")
            tok_start, tok_end = offsets[i]
            span = text[start:end]
            first = end - len(span.lstrip()) if span.strip() else start  # leading spaces may be their own token
            if tok_end != end or tok_start > first:
                raise ValueError(f"{text[start:end]!r} does not tokenize as one token of its own here "
                                 f"(token {text[tok_start:tok_end]!r}); choose another step tag")
            positions.append(i - 1 if self.spec.template == "chat_turns" else i)
        if len(ids) > self.max_length:
            if self.overflow == "error":
                raise ValueError(f"problem {problem.id!r}: {len(ids)} tokens > max_length {self.max_length}")
            lost = sum(p is not None and p >= self.max_length for p in positions)
            self.report["truncated solutions"] += 1
            self.report["unscored steps"] += lost
            log.warning("problem %s: %d tokens > %d; %d step(s) left unscored", problem.id, len(ids), self.max_length, lost)
            ids = ids[: self.max_length]
            positions = [p if p is not None and p < self.max_length else None for p in positions]
        return Encoded(ids, positions, min(solution_start, len(ids)))

    # ----------------------------------------------------------------- scoring

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        """One forward pass per solution, batched by ``max_batch_tokens``; see the class docstring."""
        if len(problems) != len(solutions):
            raise ValueError(f"{len(problems)} problems but {len(solutions)} solutions")
        if self.incremental:
            return self._score_incremental(problems, solutions)
        encoded = [self.encode(p, s.steps) for p, s in zip(problems, solutions)]
        results: list[Optional[list[Optional[float]]]] = [None] * len(encoded)
        longest_first = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].input_ids))
        by_question: dict[str, list[int]] = {}
        for i in longest_first:
            by_question.setdefault(problems[i].question, []).append(i)
        # one question's solutions are batched together and may share its tokens; the others as they come
        groups = [g for g in by_question.values() if len(g) > 1] if self.share_prefix else []
        rest = [g[0] for g in by_question.values() if len(g) == 1] if self.share_prefix else longest_first
        batches = [(b, True) for g in groups for b in self._batches(g, encoded)]
        for batch, same_question in batches + [(b, False) for b in self._batches(rest, encoded)]:
            items = [encoded[i] for i in batch]
            if same_question and self._shared_length(items, 0):
                values = self._read(items, PrefixState([], []))[0]
            else:
                values = self.forward(items)
                self.report["tokens"] += sum(len(e.input_ids) for e in items)
            for i, v in zip(batch, values):
                results[i] = v
        return [StepScores(tuple(r), source=self.spec.name) for r in results]

    def _batches(self, order: list[int], encoded: list[Encoded]) -> list[list[int]]:
        batches, current, width = [], [], 0
        for i in order:  # longest first, so the first item sets the padded width
            n = max(len(encoded[i].input_ids), 1)
            if current and max(width, n) * (len(current) + 1) > self.max_batch_tokens:
                batches.append(current)
                current, width = [], 0
            current.append(i)
            width = max(width, n)
        if current:
            batches.append(current)
        return batches

    @torch.inference_mode()
    def forward(self, items: Sequence[Encoded]) -> list[list[Optional[float]]]:
        """Scores at the read positions of a batch of encoded solutions (right-padded, one pass)."""
        width = max(max(len(e.input_ids) for e in items), 1)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        rows, cols = [], []
        for b, e in enumerate(items):
            ids[b, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
            mask[b, : len(e.input_ids)] = 1
            for p in e.read_positions:
                if p is not None:
                    rows.append(b)
                    cols.append(p)
        # without padding the mask is all ones: dropping it lets SDPA take its causal fast path
        ids = ids.to(self.device)
        mask = None if bool(mask.all()) else mask.to(self.device)
        starts = torch.tensor([e.start for e in items], dtype=torch.long)
        flat = self._values(self.step_logits(ids, mask, torch.tensor(rows, dtype=torch.long),
                                             torch.tensor(cols, dtype=torch.long), starts=starts))
        out, k = [], 0
        for e in items:
            values = []
            for p in e.read_positions:
                values.append(None if p is None else flat[k])
                k += p is not None
            out.append(values)
        return out

    def _values(self, logits: torch.Tensor) -> list[float]:
        identity = self.spec.head == "value" and self.spec.value_activation == "identity"
        return (logits[:, 1] if identity else logits.softmax(-1)[:, 1]).float().cpu().tolist()

    @torch.inference_mode()
    def _score_incremental(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        """Scores reading only the tokens after each solution's longest prefix already scored; the solutions
        that extend the same prefix are read in one batch on top of its cache."""
        groups: dict[Any, list[tuple[int, Encoded]]] = {}
        parents: dict[Any, tuple[PrefixState, list]] = {}
        for i, (problem, solution) in enumerate(zip(problems, solutions)):
            enc = self.encode(problem, solution.steps)
            parent = (problem.question, None)  # nothing cached: read from the start, with the question's others
            parents.setdefault(parent, (PrefixState([], []), []))
            for k in range(len(solution.steps) - 1, 0, -1):
                key = (problem.question, tuple(solution.steps[:k]))
                hit = self._states.get(key)
                if hit is not None and enc.input_ids[: len(hit[0].ids)] == hit[0].ids:
                    self._states.move_to_end(key)
                    parent, parents[key] = key, hit[:2]  # held here: storing children may evict it
                    break
            groups.setdefault(parent, []).append((i, enc))
        results: list[list[Optional[float]]] = [[] for _ in solutions]
        for parent, items in groups.items():
            base, known = parents[parent]
            values, state = self._read([enc for _, enc in items], base)
            for r, (i, enc) in enumerate(items):
                results[i] = [(known[j] if j < len(known) else None) if v is _KNOWN else v
                              for j, v in enumerate(values[r])]
            start = len(state.ids)  # the base the rows were read on (the shared prefix, if one was read)
            for r, (i, enc) in enumerate(items):
                if len(enc.input_ids) >= self.max_length or len(enc.input_ids) <= start:
                    continue  # truncated (nothing extends it) or nothing new (its parent serves)
                self._store((problems[i].question, tuple(solutions[i].steps)), _row(state, r, enc.input_ids),
                            results[i])
        self._evict()  # also when nothing was stored and the budget was lowered since the last call
        return [StepScores(tuple(r), source=self.spec.name) for r in results]

    def _shared_length(self, items: Sequence[Encoded], done: int) -> int:
        """How many leading tokens ``items`` share, if reading them once beyond the ``done`` already read saves
        ``SHARE_MIN_TOKENS`` (and ``share_prefix`` is on); else 0. Every item keeps at least one token to read."""
        if not self.share_prefix or len(items) < 2 or len({e.start for e in items}) > 1:
            return 0
        lcp = min(_common_prefix([e.input_ids for e in items]), min(len(e.input_ids) for e in items) - 1)
        return lcp if (len(items) - 1) * (lcp - done) >= SHARE_MIN_TOKENS else 0

    @torch.inference_mode()
    def _read(self, items: Sequence[Encoded], base: PrefixState) -> tuple[list[list[Any]], PrefixState]:
        """Read ``items`` (all extending ``base.ids``) on top of ``base``'s cache in one batch; per item its
        scores aligned with ``read_positions`` (``_KNOWN`` for steps inside ``base``, ``None`` past
        ``max_length``) and the state after reading (``ids`` the base read on, caches over every row).

        With ``share_prefix``, tokens that all the items share beyond ``base`` (the question, when Best-of-N's
        candidates are scored together) are read once, as one row, when that saves ``SHARE_MIN_TOKENS``."""
        shared: dict[int, Optional[float]] = {}
        lcp = self._shared_length(items, len(base.ids))
        if lcp:
            head = items[0].input_ids[:lcp]
            at = sorted({p for e in items for p in e.read_positions if p is not None and len(base.ids) <= p < lcp})
            values, state = self._read([Encoded(head, at, items[0].start)], base)
            shared = dict(zip(at, values[0]))
            base = _row(state, 0, head)
        rows, start = len(items), len(base.ids)
        state = PrefixState(base.ids, self._cache(base.past, rows),
                            self._cache(base.ref_past, rows) if self.reference is not None else None)
        if base.last_logits is not None:
            state.last_logits = base.last_logits.expand(rows, -1)
            state.ref_last_logits = base.ref_last_logits.expand(rows, -1)
            state.q = base.q
        new = [e.input_ids[start:] for e in items]
        width = max(1, max(len(x) for x in new))
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        for r, x in enumerate(new):  # right-padded: causal attention never reads the padding
            ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        reads = [(r, j, p - start) for r, e in enumerate(items)
                 for j, p in enumerate(e.read_positions) if p is not None and p >= start]
        flat = self._values(self.step_logits(
            ids.to(self.device), None, torch.tensor([r for r, _, _ in reads], dtype=torch.long),
            torch.tensor([c for _, _, c in reads], dtype=torch.long),
            starts=torch.tensor([e.start - start for e in items]), state=state))
        self.report["tokens"] += sum(len(x) for x in new)
        out = [[None if p is None else shared.get(p, _KNOWN) for p in e.read_positions] for e in items]
        for (r, j, _), v in zip(reads, flat):
            out[r][j] = v
        return out, state

    def _store(self, key: Any, state: PrefixState, scores: list) -> None:
        """Cache ``state``, then evict the least recently used until the states fit ``max_cache_bytes``."""
        size = state.nbytes()
        self._forget(key)
        if size > self.max_cache_bytes:
            self.report["prefix states not cached (over budget)"] += 1
        else:
            self._states[key] = (state, scores, size)
            self.cached_bytes += size
        self._evict()

    def _evict(self) -> None:
        while self.cached_bytes > self.max_cache_bytes and self._states:
            self._forget(next(iter(self._states)))
            self.report["prefix states evicted"] += 1

    def _forget(self, key: Any) -> None:
        dropped = self._states.pop(key, None)
        if dropped is not None:
            self.cached_bytes -= dropped[2]

    def release(self, problem: Problem) -> None:
        """Drop the cached states of ``problem`` (by its question): its search ended and nothing will extend them."""
        for key in [key for key in self._states if key[0] == problem.question]:
            self._forget(key)

    def _cache(self, layers: list, rows: int) -> Any:
        """A fresh ``DynamicCache`` holding ``layers`` (per layer ``(keys, values)``, one row) for ``rows`` rows;
        ``update`` concatenates into new tensors, so the stored prefix is never written to."""
        from transformers import DynamicCache

        if not layers:
            return DynamicCache(config=self.model.config)
        return DynamicCache([(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers],
                            config=self.model.config)

    def step_logits(self, ids: torch.Tensor, mask: Optional[torch.Tensor], rows: torch.Tensor, cols: torch.Tensor, *,
                    starts: Optional[torch.Tensor] = None, model: Any = None,
                    ref_logprobs: Optional[torch.Tensor] = None, state: Optional[PrefixState] = None) -> torch.Tensor:
        """``[N, 2]`` logits (wrong, correct) of the steps read at ``(rows, cols)``: the score is their softmax's
        second column. Differentiable, so training optimises exactly what scoring reads.

        ``model`` overrides ``self.model`` (a PEFT wrapper while training); ``ref_logprobs`` (``[B, T]``, from
        ``token_logprobs``) spare an implicit PRM the reference forward pass. With ``state`` (one solution),
        ``ids`` are the tokens after ``state.ids``, read on top of its caches, which are updated in place.
        """
        spec, model = self.spec, model if model is not None else self.model
        rows, cols = rows.to(ids.device), cols.to(ids.device)
        if spec.head == "implicit":
            offset = 0.0
            if state is None:
                logprobs = token_logprobs(model, ids, mask)
                if ref_logprobs is None:
                    with torch.no_grad():
                        ref_logprobs = token_logprobs(self.reference, ids, mask)
            else:  # carry on from the state; it keeps every new position's logits and q (the caller picks rows)
                logprobs, state.last_logits = token_logprobs(model, ids, None, past=state.past,
                                                             prev_logits=state.last_logits)
                ref_logprobs, state.ref_last_logits = token_logprobs(self.reference, ids, None, past=state.ref_past,
                                                                     prev_logits=state.ref_last_logits)
                offset = torch.as_tensor(state.q, device=ids.device).reshape(-1, 1)
            ratio = logprobs - ref_logprobs.to(logprobs.device)
            if starts is not None:  # the question's tokens are not part of the reward
                positions = torch.arange(ids.shape[1], device=ids.device)
                ratio = ratio * (positions[None, :] >= starts.to(ids.device)[:, None])
            cumulative = spec.beta * ratio.cumsum(-1) + offset
            if state is not None:
                state.q = cumulative
            q = cumulative[rows, cols]
            return torch.stack([torch.zeros_like(q), q], -1)
        cache = {"past_key_values": state.past, "use_cache": True} if state is not None else {}
        if spec.head == "lm_words" and hasattr(model, "module"):  # DDP/DeepSpeed: go through the wrapper's forward
            return model(input_ids=ids, attention_mask=mask).logits[rows, cols][:, self.word_ids].float().flip(-1)
        if spec.head == "lm_words":
            # Only two rows of the LM head are needed: project the gathered hidden states onto them
            # instead of materialising [batch, tokens, vocab] logits.
            inner = model.get_base_model() if hasattr(model, "get_base_model") else model
            hidden = getattr(inner, inner.base_model_prefix)(input_ids=ids, attention_mask=mask, **cache)[0][rows, cols]
            head = inner.get_output_embeddings()
            words = torch.tensor(self.word_ids, device=ids.device)
            logits = hidden.float() @ head.weight[words].float().T
            if getattr(head, "bias", None) is not None:
                logits = logits + head.bias[words].float()
            return logits.flip(-1)  # label_words are (positive, negative)
        logits = model(input_ids=ids, attention_mask=mask, **cache)[0][rows, cols].float()
        if spec.head == "token_cls":
            if logits.shape[-1] <= spec.positive_index:
                raise ValueError(f"the model outputs {logits.shape[-1]} values per token; spec {spec.name!r} "
                                 f"reads class {spec.positive_index} of a classification head")
            if logits.shape[-1] == 2:
                return logits if spec.positive_index == 1 else logits.flip(-1)
            # N-way head: the positive class against the log-sum of all the others
            rest = torch.cat([logits[:, : spec.positive_index], logits[:, spec.positive_index + 1:]], -1)
            return torch.stack([rest.logsumexp(-1), logits[:, spec.positive_index]], -1)
        if logits.shape[-1] != 1:
            raise ValueError(f"a value head outputs 1 value per token, this model outputs {logits.shape[-1]}")
        value = logits[:, 0]  # softmax([0, v])[1] == sigmoid(v); identity heads read v itself from column 1
        return torch.stack([torch.zeros_like(value), value], -1)

    # ----------------------------------------------------------------- reference

    def score_per_prefix(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        """The slow pattern prmkit replaces: one forward pass per step prefix, each re-tokenized.

        Kept as the reference that ``score`` must equal, and as the benchmark baseline.
        """
        out = []
        for problem, solution in zip(problems, solutions):
            values = []
            for k in range(1, len(solution.steps) + 1):
                enc = self.encode(problem, solution.steps[:k])
                values.append(self.forward([Encoded(enc.input_ids, enc.read_positions[-1:])])[0][0])
            out.append(StepScores(tuple(values), source=self.spec.name))
        return out
