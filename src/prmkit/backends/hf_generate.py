"""Local sampling with any Hugging Face causal LM: batched, with the KV cache, on CPU or CUDA.

Every (prompt, sample) pair is one row; rows are sorted by prompt length, left-padded into batches of
at most ``max_batch_size`` and decoded by ``model.generate`` with the KV cache. A batch stops as soon
as every row has hit EOS or a stop string; each completion is then cut at the first stop string,
which is not returned.

Why not transformers' own ``stop_strings``: it matches the end of the whole sequence, prompt included,
so with ``stop=["\n\n"]`` a prompt ending in ``"\n"`` stops after one generated ``"\n"``. Stops here are
matched in the completion's text only, as vLLM and OpenAI servers do.

Why not ``do_sample=True``: on CPU, ``torch.multinomial`` over a 30k vocabulary cost as much as the
whole forward pass of a 12M-parameter model (measured: 51 of 114 ms per step at 64 rows), and so
does drawing Gumbel noise for every logit. Sampling is done instead by inverse CDF, one uniform per
row (the same distribution), in a logits processor ahead of generate's argmax. The uniforms come from
a per-call ``torch.Generator``, so a seeded call reproduces its samples and leaves the caller's
global RNG alone.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from .hf_transformers import _resolve_device, _resolve_dtype
from .protocols import Completion, check_request, cut_at_stop, prompt_seeds, stop_hit

__all__ = ["HFGenerator"]


CONTEXT = 4  # prompt tokens decoded before a completion, then cut off again (see decode_after)


def decode_after(tokenizer: Any, context: list[list[int]], rows: list[list[int]]) -> list[str]:
    """The text each row of ``rows`` adds after its ``context`` tokens.

    Decoding a completion's tokens alone loses what depends on the token before: SentencePiece drops
    the leading space of a first ``"▁She"``, WordPiece the space before a first word. Decoding
    ``context + row`` and removing the decoded context keeps the text exactly as it continues the prompt.
    """
    heads = tokenizer.batch_decode(context, skip_special_tokens=True)
    fulls = tokenizer.batch_decode([c + r for c, r in zip(context, rows)], skip_special_tokens=True)
    out = []
    for head, full, row in zip(heads, fulls, rows):
        out.append(full[len(head):] if full.startswith(head) else tokenizer.decode(row, skip_special_tokens=True))
    return out


class _StopInCompletion(StoppingCriteria):
    """Done once a row's generated text contains a stop string (the prompt is never looked at).

    Only the last tokens are decoded each step: a stop string of ``m`` characters is at most ``4m``
    bytes, so it lies within the last ``4m`` tokens when it first appears (two more are kept for safety).
    """

    def __init__(self, tokenizer: Any, stop: list[str], prompt_ids: torch.Tensor) -> None:
        self.tokenizer, self.stop, self.start = tokenizer, stop, prompt_ids.shape[1]
        self.window = 4 * max(len(s) for s in stop) + 2
        self.context = prompt_ids[:, -CONTEXT:].tolist()

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        length = input_ids.shape[1]
        if length - self.window >= self.start:
            texts = self.tokenizer.batch_decode(input_ids[:, length - self.window:].tolist(), skip_special_tokens=True)
        else:  # the whole completion so far, read as the continuation of the prompt
            texts = decode_after(self.tokenizer, self.context, input_ids[:, self.start:].tolist())
        return torch.tensor([any(s in t for s in self.stop) for t in texts], dtype=torch.bool, device=input_ids.device)


class _InverseCDFSample(LogitsProcessor):
    """Draws each row's next token from softmax(logits / T) by inverse-CDF sampling (one uniform per row)
    and returns scores that are 0 at the drawn token and -inf elsewhere, so generate's greedy argmax
    picks it. Tokens already at -inf (masked by earlier processors) have no mass and are never drawn.
    ``segments`` (per-prompt seeds): (generator, rows) for each run of consecutive rows, in batch order."""

    def __init__(self, temperature: float, generator: Optional[torch.Generator],
                 segments: Optional[list[tuple[torch.Generator, int]]] = None) -> None:
        self.temperature, self.generator, self.segments = temperature, generator, segments

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        cdf = (scores.float() / self.temperature).softmax(-1).cumsum(-1)
        if self.segments is None:
            u = torch.rand((scores.shape[0], 1), generator=self.generator, device=scores.device)
        else:  # consecutive rows of one prompt each draw from that prompt's own generator, as if it were alone
            u = torch.cat([torch.rand((rows, 1), generator=g, device=scores.device) for g, rows in self.segments])
        token = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_(max=scores.shape[-1] - 1)
        return torch.full_like(scores, float("-inf")).scatter_(-1, token, 0.0)


class _CaptureTopK(LogitsProcessor):
    """Records the ``k`` most likely tokens and their log-probabilities at every step (``k > 0``) and the
    log-probability of each sampled token (``sampled``), from the model's raw logits (temperature 1, before any
    sampling), and passes the scores on unchanged. A step's sampled token is known at the next call (the last
    column of ``input_ids``), so only the previous step's log-softmax is kept; ``finish`` reads the last one."""

    def __init__(self, k: int, sampled: bool = False) -> None:
        self.k, self.steps, self.sampled, self.chosen = k, [], sampled, []
        self._previous: Optional[torch.Tensor] = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logp = scores.float().log_softmax(-1)
        if self.k > 0:
            top = logp.topk(min(self.k, scores.shape[-1]), dim=-1)
            self.steps.append((top.values.cpu(), top.indices.cpu()))
        if self.sampled:
            self._take(input_ids[:, -1])
            self._previous = logp
        return scores

    def _take(self, tokens: torch.Tensor) -> None:
        if self._previous is not None:
            self.chosen.append(self._previous.gather(-1, tokens.view(-1, 1).to(self._previous.device))[:, 0].cpu())
            self._previous = None

    def finish(self, last_tokens: torch.Tensor) -> None:
        """The last generated column: the sampled tokens of the final step."""
        self._take(last_tokens)


class HFGenerator:
    """A ``Generator`` over a transformers causal LM and its tokenizer.

    Args:
        model: a loaded ``AutoModelForCausalLM`` (put on its device already).
        tokenizer: its tokenizer; a missing pad token falls back to EOS.
        device (*optional*): where inputs go; defaults to the model's device.
        dtype (*optional*): cast the model to this (``"bf16"``, ``torch.float32``, ...); defaults to leaving it.
        max_batch_size (`int`, *optional*): rows (prompt x sample) per ``generate`` call; defaults to 256 on
            CUDA and 64 on CPU.

    Sampling is plain temperature sampling (no top-k or top-p: the distribution the OpenAI and vLLM
    backends sample from by default); ``temperature=0`` is greedy decoding.

    Example:
        >>> gen = HFGenerator.from_pretrained("path/to/policy")            # doctest: +SKIP
        >>> gen.generate(["Q: 2 + 2?\\nStep 1:"], n=4, stop=["\\n"], seed=0)   # doctest: +SKIP
        [[' 2 + 2 = 4.', ' 4.', ' Add them: 4.', ' 2 + 2 is 4.']]
    """

    seeds_per_prompt = True  # ``seed`` may be one per prompt (see ``Generator``)

    def __init__(self, model: Any, tokenizer: Any, *, device: Any = None, dtype: Any = None,
                 max_batch_size: Optional[int] = None) -> None:
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        model = model.to(self.device)
        if dtype is not None:
            model = model.to(_resolve_dtype(dtype, self.device))
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_batch_size = max_batch_size or (256 if self.device.type == "cuda" else 64)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (min(self.eos_ids) if self.eos_ids else 0)

    @classmethod
    def from_pretrained(cls, path: str, device: Any = "auto", dtype: Any = "auto", **kwargs: Any) -> "HFGenerator":
        """Load a model folder or hub id with ``AutoModelForCausalLM`` (bf16 on CUDA, fp32 on CPU by default)."""
        import transformers

        dev = _resolve_device(device)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=_resolve_dtype(dtype, dev))
        return cls(model.to(dev), tokenizer, **kwargs)

    def generate(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None) -> list[list[str]]:
        """``n`` completions of each prompt (the prompt and the stop string left out).

        Args:
            prompts: raw text, given to the tokenizer as is (apply a chat template first if the model needs one).
            n: samples per prompt.
            stop: strings that end a completion; ``["\\n"]`` returns one step at a time.
            max_tokens: new tokens at most per completion.
            temperature: ``0`` is greedy (and then the ``n`` samples are equal).
            seed: the same seed, prompts and settings give the same samples. One seed per prompt: each prompt
                draws what a call of it alone with its seed draws (batching problems changes no sample).

        Returns:
            ``len(prompts)`` lists of ``n`` strings, in the order of ``prompts``.
        """
        return [[c.text for c in row] for row in self.complete(prompts, n=n, stop=stop, max_tokens=max_tokens,
                                                                temperature=temperature, seed=seed)]

    def complete(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None,
                 top_logprobs: int = 0, logprobs: bool = False) -> list[list[Completion]]:
        """As ``generate``, with each completion's finish reason, token count, (``top_logprobs > 0``) the
        log-probabilities of the ``top_logprobs`` likeliest tokens at each position and (``logprobs``) the sampled
        token's, from the raw logits (the same samples as ``generate``: recording them draws no random numbers)."""
        stop = check_request(prompts, n, max_tokens, temperature, stop)
        encoded = [self.tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
        if any(not e for e in encoded):
            raise ValueError("an empty prompt has no tokens to continue from; give at least one character")
        rows = sorted(((i, k) for i in range(len(prompts)) for k in range(n)), key=lambda r: (-len(encoded[r[0]]), r))
        out: list[list[Completion]] = [[Completion("", "length")] * n for _ in prompts]
        if max_tokens == 0 or not rows:
            return out
        seeds = prompt_seeds(seed, len(prompts))
        if seeds is None:  # one generator for the call; batches cut wherever the rows reach max_batch_size
            generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
            batches = [(rows[start: start + self.max_batch_size], generator, None)
                       for start in range(0, len(rows), self.max_batch_size)]
        else:
            batches = self._per_prompt_batches(rows, seeds, n)
        for batch, generator, segments in batches:
            sampler = _InverseCDFSample(temperature, generator, segments) if temperature > 0 else None
            done = self._generate_batch([encoded[i] for i, _ in batch], stop, max_tokens, sampler, top_logprobs,
                                        logprobs)
            for (i, k), completion in zip(batch, done):
                out[i][k] = completion
        return out

    def _per_prompt_batches(self, rows: list[tuple[int, int]], seeds: list[Optional[int]], n: int) -> list:
        """Batches of whole prompts (a prompt's ``n`` rows are split only when ``n > max_batch_size``, and then as
        a call of that prompt alone splits them), each with its (generator, rows) segments: every prompt draws the
        uniforms it would draw alone with its seed (an unseeded prompt gets a fresh generator)."""
        batches: list[tuple[list, None, list]] = []
        for start in range(0, len(rows), n):  # rows are grouped by prompt, its n samples in order
            mine, generator = rows[start: start + n], torch.Generator(self.device)
            seed = seeds[mine[0][0]]
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            for cut in range(0, n, self.max_batch_size):
                piece = mine[cut: cut + self.max_batch_size]
                if not batches or len(batches[-1][0]) + len(piece) > self.max_batch_size:
                    batches.append(([], None, []))
                batches[-1][0].extend(piece)
                batches[-1][2].append((generator, len(piece)))
        return batches

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], stop: list[str], max_tokens: int,
                        sampler: Optional[_InverseCDFSample], top_logprobs: int = 0,
                        logprobs: bool = False) -> list[Completion]:
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for b, p in enumerate(prompts):  # left padding: every row's next token is at the same column
            if p:
                ids[b, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[b, width - len(p):] = 1
        # do_sample=False always: the sampler (if any) has drawn the token and leaves it the only finite
        # score for generate's argmax; the model's own sampling defaults (top_k, top_p, ...) stay off
        capture = _CaptureTopK(top_logprobs, logprobs) if top_logprobs > 0 or logprobs else None
        processors = [p for p in (capture, sampler) if p is not None]
        ids = ids.to(self.device)
        sequences = self.model.generate(
            input_ids=ids, attention_mask=mask.to(self.device), max_new_tokens=max_tokens,
            use_cache=True, pad_token_id=self.pad_id, do_sample=False, num_beams=1,
            temperature=None, top_k=None, top_p=None,
            logits_processor=LogitsProcessorList(processors) if processors else None,
            stopping_criteria=StoppingCriteriaList([_StopInCompletion(self.tokenizer, stop, ids)]) if stop else None)
        if capture is not None and logprobs and sequences.shape[1] > width:
            capture.finish(sequences[:, -1])
        rows, ended = [], []
        for row in sequences[:, width:].tolist():
            end = next((j for j, t in enumerate(row) if t in self.eos_ids), None)
            ended.append(end is not None)
            row = row[:end] if end is not None else row
            while row and row[-1] == self.pad_id:  # a row stopped by a stop string is padded to the batch's end
                row.pop()
            rows.append(row)
        context = ids[:, -CONTEXT:].tolist()
        texts = decode_after(self.tokenizer, context, rows)
        out = []
        for b, (row, text) in enumerate(zip(rows, texts)):
            hit = stop_hit(text, stop)
            cut = cut_at_stop(text, stop)
            finish = "stop" if ended[b] or hit is not None or len(row) < max_tokens else "length"
            top = offsets = chosen = None
            if capture is not None:
                # where each token starts in the text: the length of the text its predecessors decode to
                starts = [len(t) for t in decode_after(self.tokenizer, [context[b]] * len(row),
                                                       [row[:j] for j in range(len(row))])]
                keep = [j for j in range(len(row)) if starts[j] < len(cut)]
                if top_logprobs > 0:
                    top = tuple({self._piece(int(t)): float(v)
                                 for v, t in zip(*(x[b].tolist() for x in capture.steps[j]))} for j in keep)
                if logprobs:
                    chosen = tuple(float(capture.chosen[j][b]) for j in keep)
                offsets = tuple(starts[j] for j in keep)
            out.append(Completion(cut, finish, hit, len(row), top, offsets, chosen))
        return out

    def _piece(self, token_id: int) -> str:
        """A token's text as it appears in a completion (cached)."""
        cache = self.__dict__.setdefault("_pieces", {})
        if token_id not in cache:
            cache[token_id] = self.tokenizer.decode([token_id], skip_special_tokens=False)
        return cache[token_id]
