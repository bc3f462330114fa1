"""The world's generative verifiers and the teacher whose filtered chains they are trained on.

A world verifier answers the ``world`` (or ``world-code``) verifier prompt of
``prmkit.backends.generative``: for each step it first writes the step it expects, then it is shown the
solution's step, then it judges it ``ok`` or ``wrong``::

    Step 0: 9 + 9 = 18 | 9 + 9 = 18 ok
    Step 1: 18 - 4 = 14 | 18 - 5 = 13 wrong

The code-checking variant writes a Python block that compares the shown step with its derivation and
recomputes the shown step's arithmetic, and reads its output (run in ``prmkit.sandbox``) before the verdict.
The block gets both strings as data (the prompt's code prelude sets ``mine``, ``shown`` and the shown
equation's sides ``lhs`` and ``rhs``), so nothing has to be copied into it::

    Step 1: 18 - 4 = 14 | 18 - 5 = 12 [print(mine == shown, eval(lhs) == int(rhs))] False False wrong

Deriving before seeing is the point: a verifier that only quotes the step has to see a wrong operand in
its hidden state (the bundled judge, trained that way on injected errors, finds 2 of 89 policy errors);
one that derives it compares two short strings.

``Teacher`` is the ThinkPRM recipe's chain writer for this world: a ``Generator`` that answers the same
prompt by sampling the bundled policy's own next step as the derivation and comparing strings (and, for
the code variant, the block's output with the claimed result). It never sees a label. Its chains are
kept only where their verdicts agree with the labels (``prmkit annotate chains``) and a verifier is
fine-tuned on those (``prmkit train target=chains``); ``prmkit world train-verifier`` runs the recipe.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional, Sequence

from ..backends.protocols import Completion, check_request
from .checker import parse_step
from .policy import BUNDLED_POLICY, build_tokenizer, prompt_of

__all__ = ["BUNDLED_VERIFIER", "BUNDLED_CODE_VERIFIER", "verifier_tokenizer", "Teacher", "init_from_policy"]

BUNDLED_VERIFIER = Path(__file__).resolve().parent / "assets" / "verifier"
BUNDLED_CODE_VERIFIER = Path(__file__).resolve().parent / "assets" / "verifier-code"
_WORDS = ("Verify", "Step", "ok", "wrong", "python", "print", "output", "not", "run", "True", "False", "mine", "shown",
          "eval", "lhs", "rhs", "int")
_LINE = re.compile(r"^Step (\d+):(.*?)\| (.*?)(?: \[.*)? (ok|wrong)$")


def verifier_tokenizer() -> Any:
    """The policy's tokenizer plus the verifier's words and ``|<>_"[]`` (tokens the policy has keep their text)."""
    return build_tokenizer(extra_words=_WORDS, extra_symbols='|<>_"[]')


def init_from_policy(out: str | Path, policy: str | Path = BUNDLED_POLICY) -> Path:
    """A model folder of the policy's shape with the verifier's tokenizer: the weights of ``policy`` (the bundled
    policy, or a verifier trained with another tokenizer), token embeddings matched by token string (new
    tokens start random). The starting point of fine-tuning."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from .judge import _from_policy

    out = Path(out)
    tokenizer = verifier_tokenizer()
    config = AutoConfig.from_pretrained(policy)
    config.vocab_size = len(tokenizer)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    _from_policy(tokenizer, policy)(model)
    model.tie_weights()
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _parse(prompt: str) -> tuple[str, list[str], str]:
    """(problem text, the steps shown so far, the chain's current last line) of a world verifier prompt."""
    problem, _, chain = prompt.partition("\nVerify:\n")
    lines = chain.split("\n")
    shown = []
    for line in lines[:-1]:
        m = _LINE.match(line)
        if m:
            shown.append(m.group(3).strip())
    return problem, shown, lines[-1]


class Teacher:
    """Writes world verification chains from the bundled policy's own derivations (see the module).

    Args:
        generator: the policy as a ``Generator`` (``HFGenerator`` of the bundled policy by default).
        code: write the code-checking variant's blocks.
    """

    def __init__(self, generator: Any = None, *, code: bool = False) -> None:
        if generator is None:
            from ..backends.hf_generate import HFGenerator

            generator = HFGenerator.from_pretrained(str(BUNDLED_POLICY), max_batch_size=256)
        self.generator, self.code = generator, code
        self.tokenizer = verifier_tokenizer()

    def generate(self, prompts: Sequence[str], **kwargs: Any) -> list[list[str]]:
        return [[c.text for c in row] for row in self.complete(prompts, **kwargs)]

    def complete(self, prompts: Sequence[str], *, n: int = 1, stop: Optional[Sequence[str]] = None,
                 max_tokens: int = 256, temperature: float = 1.0, seed: Optional[int] = None,
                 top_logprobs: int = 0) -> list[list[Completion]]:
        check_request(prompts, n, max_tokens, temperature, stop)
        parsed = [_parse(p) for p in prompts]
        think = [j for j, (_, _, last) in enumerate(parsed) if re.fullmatch(r"Step \d+:", last)]
        derived = self.generator.generate(
            [prompt_of(parsed[j][0]) + "".join(s + "\n" for s in parsed[j][1]) for j in think], n=n, stop=["\n"],
            max_tokens=24, temperature=temperature, seed=seed) if think else []
        out: list[list[Completion]] = [[] for _ in prompts]
        for j, texts in zip(think, derived):
            out[j] = [Completion(" " + t.strip() + " ", "stop", "|", 1 + len(t.split())) for t in texts]
        for j, (_, _, last) in enumerate(parsed):
            if not out[j]:
                text, hit = self._verdict(last)
                out[j] = [Completion(text, "stop", hit, len(text.split()))] * n
        return out

    def _verdict(self, line: str) -> tuple[str, str]:
        """The verdict hole: (text, the stop string that ends it)."""
        m = re.match(r"^Step \d+:(.*?)\| (.*?)(?: \[(.*?)\] (.*?))?$", line)
        if m is None:
            return " wrong", "\n"
        derivation, step, output = m.group(1).strip(), m.group(2).strip(), m.group(4)
        if self.code and m.group(3) is None:  # the prelude has set mine (the derivation) and shown (the step)
            check = ", eval(lhs) == int(rhs)" if isinstance(parse_step(step), tuple) else ""
            return f" [print(mine == shown{check})", "]"
        if output is not None:
            return (" wrong" if "False" in output or "True" not in output else " ok"), "\n"
        return (" ok" if derivation == step else " wrong"), "\n"
