"""A ``Generator`` over vLLM's offline engine (``vllm.LLM``), for when vLLM is installed.

vLLM is an optional extra: this module imports it only when a ``VLLMGenerator`` is built, and says
how to install it if it is missing. One ``generate`` call submits every prompt at once with
``SamplingParams(n, temperature, max_tokens, stop, seed)``; vLLM's scheduler does the batching and
leaves the stop string out of the text (the text is cut here too, for one behaviour across backends).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .protocols import Completion, check_request, cut_at_stop, prompt_seeds

__all__ = ["VLLMGenerator"]

INSTALL_HINT = "VLLMGenerator needs vLLM, which is not installed: pip install vllm (a CUDA machine is assumed)"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return vllm


class VLLMGenerator:
    """Samples with a ``vllm.LLM`` engine.

    Args:
        model (`str`): a model folder or hub id, loaded with ``vllm.LLM(model, dtype=dtype, **engine_kwargs)``.
        dtype (`str`, defaults to `"auto"`): passed to vLLM.
        llm (*optional*): an engine already built (then ``model`` only names it).
        **engine_kwargs: e.g. ``gpu_memory_utilization``, ``max_model_len``, ``tensor_parallel_size``.

    Raises:
        ImportError: vLLM is not installed (the message says ``pip install vllm``).
    """

    seeds_per_prompt = True  # ``seed`` may be one per prompt (see ``Generator``): one ``SamplingParams`` each

    def __init__(self, model: str, *, dtype: str = "auto", llm: Any = None, **engine_kwargs: Any) -> None:
        self._vllm = _import_vllm()
        self.model = model
        self.llm = llm if llm is not None else self._vllm.LLM(model=model, dtype=dtype, **engine_kwargs)

    @classmethod
    def from_pretrained(cls, path: str, **kwargs: Any) -> "VLLMGenerator":
        return cls(path, **kwargs)

    def generate(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None) -> list[list[str]]:
        """``n`` completions of each prompt, the stop string left out; ``temperature=0`` is greedy."""
        return [[c.text for c in row] for row in self.complete(prompts, n=n, stop=stop, max_tokens=max_tokens,
                                                                temperature=temperature, seed=seed)]

    def complete(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None,
                 top_logprobs: int = 0, logprobs: bool = False) -> list[list[Completion]]:
        """As ``generate``, with vLLM's finish reasons and (``top_logprobs > 0``, ``logprobs``) its per-token
        log-probs: vLLM's ``logprobs=k`` gives the ``k`` likeliest and always the sampled token's."""
        stop = check_request(prompts, n, max_tokens, temperature, stop)
        asked = {"logprobs": max(top_logprobs, 0)} if top_logprobs or logprobs else {}  # 0: the sampled token's only
        def sampling(s: Optional[int]) -> Any:
            return self._vllm.SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens, stop=stop or None,
                                             seed=s, **asked)

        seeds = prompt_seeds(seed, len(prompts))
        params = [sampling(s) for s in seeds] if seeds is not None else sampling(seed)
        out = []
        for o in self.llm.generate(list(prompts), params, use_tqdm=False):
            row = []
            for c in sorted(o.outputs, key=lambda c: c.index):
                text = cut_at_stop(c.text, stop)
                top = offsets = sampled = None
                if c.logprobs:
                    steps = [{lp.decoded_token: lp.logprob for lp in step.values()} for step in c.logprobs]
                    starts, at = [], 0
                    for token_id, step in zip(c.token_ids, c.logprobs):
                        starts.append(at)
                        at += len(step[token_id].decoded_token or "") if token_id in step else 0
                    keep = [j for j, a in enumerate(starts) if a < len(text)]
                    top = tuple(steps[j] for j in keep) if top_logprobs else None
                    offsets = tuple(starts[j] for j in keep)
                    if logprobs and all(c.token_ids[j] in c.logprobs[j] for j in keep):  # vLLM always adds it
                        sampled = tuple(float(c.logprobs[j][c.token_ids[j]].logprob) for j in keep)
                finish = "length" if c.finish_reason == "length" else "stop"
                row.append(Completion(text, finish, c.stop_reason if isinstance(c.stop_reason, str) else None,
                                      len(c.token_ids), top, offsets, sampled))
            out.append(row)
        return out
