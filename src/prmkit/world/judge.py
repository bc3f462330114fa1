"""The bundled world judge: a small LM trained from scratch to critique world solutions step by step.

It answers the ``world`` judge prompt (``prmkit.annotate.judge.PROMPTS["world"]``) with a critique
that quotes each step (``Step i: ...``) and judges it ``ok`` or ``wrong``, up to the first wrong one,
then ``\\boxed{k}`` (``-1``: no error). It starts from the policy's weights, so it knows which step
should come next. It is trained on gold solutions and solutions with one injected
error (labelled by the exact checker), so it is a real, imperfect LLM-as-judge for the annotation
pipeline to be measured with; any other generator with the ``processbench`` prompt is used the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..annotate.judge import PROMPTS, parse_verdict, render
from .checker import check
from .export import injected_solutions
from .problems import WorldConfig, WorldProblem, generate
from .policy import EVAL_SEED, build_tokenizer, train_lm

__all__ = ["JudgeTrainConfig", "BUNDLED_JUDGE", "judge_tokenizer", "critique_of", "judge_examples", "train_judge",
           "evaluate_judge"]

BUNDLED_JUDGE = Path(__file__).resolve().parent / "assets" / "judge"
PROMPT = PROMPTS["world"]
_WORDS = ("Solution", "Critique", "Step", "ok", "wrong", "boxed")


def judge_tokenizer() -> Any:
    """The policy's tokenizer plus the critique's words and ``\\{}`` (the policy's ids keep their tokens)."""
    return build_tokenizer(extra_words=_WORDS, extra_symbols="\\{}")


def critique_of(problem: WorldProblem, steps: Sequence[str], first_error: Optional[int]) -> str:
    """The target critique: each step quoted with its verdict, up to the first wrong one, then the boxed index.

    Example:
        >>> from prmkit.world import gold_steps
        >>> p = generate(1, seed=1)[0]
        >>> print(critique_of(p, gold_steps(p)[:1] + ("1 + 1 = 3",), 1))
        Step 0: 2 - 1 = 1 ok
        Step 1: 1 + 1 = 3 wrong
        \\boxed{1}
    """
    # "Step i:" repeats the prompt's tag of the step under review, so attention finds it by its index; the
    # quoted step puts the claim right before its verdict, where the model's own next-step expectation is
    last = len(steps) - 1 if first_error is None else first_error
    lines = [f"Step {i}: {steps[i]} {'wrong' if i == first_error else 'ok'}" for i in range(last + 1)]
    return "\n".join(lines + [f"\\boxed{{{-1 if first_error is None else first_error}}}"])


def judge_examples(problems: Sequence[WorldProblem], *, error_rate: float, seed: int) -> list[tuple[WorldProblem, tuple[str, ...], Optional[int]]]:
    """(problem, steps, exact first error) per problem: ``injected_solutions`` (the gold solution or one
    with an injected error), labelled by the checker."""
    texts = injected_solutions(problems, error_rate=error_rate, seed=seed)
    out = []
    for p, (text,) in zip(problems, texts):
        result = check(p, text)
        out.append((p, result.steps, result.first_error))
    return out


@dataclass(frozen=True)
class JudgeTrainConfig:
    """Training of the bundled judge (defaults are what shipped); fields as in ``PolicyTrainConfig``.

    Args:
        error_rate: share of training solutions with an injected error.
        eval_problems: held-out solutions for the quick evaluation (greedy first-error accuracy).
        init_from_policy: start from the bundled policy's weights (it already reads the stories and
            derives the gold steps; token embeddings are matched by token string).
    """

    train_problems: int = 20000
    error_rate: float = 0.6
    hidden: int = 128
    layers: int = 3
    heads: int = 4
    batch_size: int = 32
    lr: float = 3e-3
    max_steps: int = 3000
    warmup: int = 50
    eval_every: int = 250
    eval_every_near: int = 250
    near_accuracy: float = 1.0
    eval_problems: int = 100
    target_accuracy: Optional[float] = 0.9
    init_from_policy: bool = True
    seed: int = 0


def _encode(tokenizer: Any, items: Sequence[tuple[WorldProblem, tuple[str, ...], Optional[int]]]) -> list[tuple[list[int], int]]:
    out = []
    for p, steps, fe in items:
        prompt = tokenizer(render(PROMPT, p.text, steps), add_special_tokens=False)["input_ids"]
        target = tokenizer(critique_of(p, steps, fe), add_special_tokens=False)["input_ids"]
        out.append((prompt + target + [tokenizer.eos_token_id], len(prompt)))
    return out


def _from_policy(tokenizer: Any, source: str | Path | None = None) -> Callable[[Any], None]:
    """Copy a model's weights (the bundled policy's by default) into a fresh model of the same shape whose
    tokenizer is ``tokenizer``: token embeddings are matched by token string, new tokens keep their random init."""
    import torch

    from .policy import BUNDLED_POLICY, load_policy

    def init(model: Any) -> None:
        policy, policy_tok = load_policy(source or BUNDLED_POLICY)
        state = policy.state_dict()
        emb_key = "model.embed_tokens.weight"
        emb = model.state_dict()[emb_key].clone()
        old = policy_tok.get_vocab()
        for token, i in tokenizer.get_vocab().items():
            if token in old:
                emb[i] = state[emb_key][old[token]]
        state = {k: v for k, v in state.items() if k != emb_key and not k.startswith("lm_head")}
        with torch.no_grad():
            model.load_state_dict({**state, emb_key: emb}, strict=False)

    return init


def evaluate_judge(model: Any, tokenizer: Any, items: Sequence[tuple[WorldProblem, tuple[str, ...], Optional[int]]],
                   *, max_tokens: int = 128) -> dict:
    """Greedy first-error accuracy (and the unparseable share) on (problem, steps, first error) items."""
    from ..backends.hf_generate import HFGenerator

    prompts = [render(PROMPT, p.text, steps) for p, steps, _ in items]
    critiques = HFGenerator(model, tokenizer).generate(prompts, n=1, temperature=0, max_tokens=max_tokens)
    verdicts = [parse_verdict(PROMPT, c[0], len(steps)) for c, (_, steps, _) in zip(critiques, items)]
    right = [v == (-1 if fe is None else fe) for v, (_, _, fe) in zip(verdicts, items)]
    return {"accuracy": sum(right) / len(items), "unparseable": sum(v is None for v in verdicts) / len(items),
            "problems": len(items)}


def train_judge(out: str | Path, cfg: JudgeTrainConfig = JudgeTrainConfig(), log: Callable[[str], None] = print) -> dict:
    """Train (or resume) the judge into ``out``; returns the last quick-eval metrics (resumable like the policy)."""
    out = Path(out)
    tokenizer = judge_tokenizer()
    train = judge_examples(generate(cfg.train_problems, WorldConfig(), seed=cfg.seed), error_rate=cfg.error_rate,
                           seed=cfg.seed)
    held_out = judge_examples(generate(cfg.eval_problems, WorldConfig(), seed=EVAL_SEED + 2, prefix="eval"),
                              error_rate=0.5, seed=EVAL_SEED + 2)
    model, metrics, history = train_lm(out, cfg, tokenizer, _encode(tokenizer, train),
                                       lambda m: evaluate_judge(m, tokenizer, held_out), log, name="judge",
                                       init=_from_policy(tokenizer) if cfg.init_from_policy else None)
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "prmkit_judge.json").write_text(json.dumps({"prompt": "world", "train_config": asdict(cfg),
                                                       "history": history}, indent=2))
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return metrics
