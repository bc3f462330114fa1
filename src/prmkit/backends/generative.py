"""Generative verifiers as step scorers: a verification chain per solution, a score per step from its verdicts.

A ``VerifierPrompt`` is data, like ``prmkit.annotate.judge.JudgePrompt``: how the problem and steps are
shown, where each step's verdict is in the chain, the words for "correct" and "incorrect", and what the
scorer may add to a chain. Two shapes:

* **free** (ThinkPRM, the ProcessBench critic): the whole solution is in the prompt; the verifier writes one
  chain, and each ``verdict`` match (``Step 3: ... \\boxed{correct}``) gives a step its verdict;
* **guided** (the world's verifiers): the scorer writes the chain's frame from ``guided`` (``{i}``, ``{step}``)
  and the verifier fills its holes, ``{think}`` (its own derivation of the step, written before it is shown the
  step) and ``{verdict}``; each hole ends at the text that follows it in the frame.

``GenerativeScorer`` writes ``k`` chains per solution over any ``Generator`` and scores each step either by
the verdict token's probability, ``p(correct) / (p(correct) + p(incorrect))`` at that token (ThinkPRM; from
``Completes.complete``'s ``top_logprobs``: HF local, OpenAI-compatible servers that return logprobs, vLLM),
or by the share of chains that judge it correct (``scores="votes"``, any generator). Chain by chain:

* after a chain's first "incorrect" nothing more is read from it (``after_error="stop"``: ThinkPRM stops
  verifying); its later steps take their score from the other chains, or stay unscored;
* a step a chain gives no parseable verdict gets nothing from that chain; a step no chain judged is None;
* a truncated chain (``finish == "length"``: it ran out of tokens) gives nothing at all, nor an empty one.

Scaling on the verifier side: ``k`` chains per solution in one batched ``generate`` call per round
(parallel), and ``rounds`` of budget forcing (sequential): the chain is continued after ``double_check``
("Let me double check") up to ``rounds`` more times within ``max_tokens``; a later round's verdicts replace
earlier ones. A prompt with ``code`` lets the verifier write a Python block; it runs in ``prmkit.sandbox``
and its output is appended before the verifier goes on (GenPRM). Every token the verifier reads and
writes is counted in ``report`` (``tokens``), which search adds to its ``Compute``.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..types import Problem, Solution, StepScores
from .protocols import Completion

__all__ = ["CodeFormat", "VerifierPrompt", "VERIFIER_PROMPTS", "Chain", "GenerativeScorer", "verdict_value"]


def _frame(guided: str) -> list[tuple[str, str]]:
    """A guided frame as ("text", literal) and ("hole", name) parts; literals keep ``{i}``/``{n}``/``{step}``."""
    parts, literal = [], ""
    for text, name, _, _ in string.Formatter().parse(guided):
        literal += text.replace("{", "{{").replace("}", "}}")
        if name in ("think", "verdict"):
            parts += [("text", literal), ("hole", name)]
            literal = ""
        elif name is not None:
            if name not in ("i", "n", "step"):
                raise ValueError(f"unknown field {{{name}}} in a guided frame")
            literal += "{" + name + "}"
    parts.append(("text", literal))
    for k, (kind, _) in enumerate(parts):
        if kind == "hole" and not parts[k + 1][1].split("{")[0]:
            raise ValueError("each hole of a guided frame must be followed by literal text (where it stops)")
    return [p for p in parts if p != ("text", "")]


@dataclass(frozen=True)
class CodeFormat:
    """A Python block the verifier may write, and how its output is shown to it.

    Args:
        start / end: the block's delimiters (generation stops at ``end``; the block is run when it was opened).
        output: what is appended after ``end``, with ``{output}`` (stdout, or the sandbox's one-line reason).
        max_runs: blocks run per chain at most (later ones get ``output`` with "not run").
        prelude: Python run before each block (not shown in the chain), with the chain's text as data: ``{step}``
            (the step being verified) and, in guided chains, ``{think}`` (the verifier's own text for it) and
            ``{i}``; use ``!r`` (``shown = {step!r}``) so a value is a string literal, never code. A block can then
            compare what it was shown instead of copying it.
    """

    start: str = "```python\n"
    end: str = "\n```"
    output: str = "\n```output\n{output}\n```\n"
    max_runs: int = 16
    prelude: str = ""

    def __post_init__(self) -> None:
        for _, name, _, _ in string.Formatter().parse(self.prelude):
            if name is not None and name not in ("step", "think", "i"):
                raise ValueError(f"unknown field {{{name}}} in a code prelude (known: step, think, i)")


@dataclass(frozen=True)
class VerifierPrompt:
    """How a generative verifier is asked and read.

    Args:
        template: the prompt, with ``{problem}`` and ``{steps}``.
        step_format: each step in ``{steps}``, with ``{i}`` (0-based), ``{n}`` (1-based) and ``{step}``.
        step_joiner: between rendered steps.
        correct / incorrect: the verdict words (matched case-insensitively; at the token level by prefix).
        verdict: (free chains) a regex with a ``verdict`` group and an optional ``step`` group (the step's
            number in ``step_format``'s numbering, ``step_base``); without ``step``, the i-th match is step i.
        step_base: the number of the first step in the chain (ThinkPRM counts from 1).
        guided: (guided chains) the frame of one step, with ``{i}``, ``{n}``, ``{step}`` and the holes
            ``{think}`` and ``{verdict}``; each hole is followed by literal text, where its generation stops.
        after_error: ``"stop"`` (nothing after a chain's first incorrect is read or, when guided, written) or
            ``"continue"``.
        double_check: appended for each round of budget forcing.
        code: a ``CodeFormat`` when the verifier may run Python (GenPRM-style), else None.
        chat: wrap ``template`` in the generator tokenizer's chat template (when it has one), then add
            ``assistant_prefix``.
    """

    template: str
    step_format: str = "Step {n}: {step}"
    step_joiner: str = "\n"
    correct: str = "correct"
    incorrect: str = "incorrect"
    verdict: str = r"Step\s+(?P<step>\d+)\s*:.*?\\boxed\{\s*(?P<verdict>correct|incorrect)\s*\}"
    step_base: int = 1
    guided: Optional[str] = None
    after_error: str = "stop"
    double_check: str = "\nLet me double check.\n"
    code: Optional[CodeFormat] = None
    chat: bool = False
    assistant_prefix: str = ""

    def __post_init__(self) -> None:
        if self.after_error not in ("stop", "continue"):
            raise ValueError(f"after_error must be 'stop' or 'continue', not {self.after_error!r}")
        if self.guided is not None:
            frame = _frame(self.guided)
            holes = [p for kind, p in frame if kind == "hole"]
            if "verdict" not in holes:
                raise ValueError("a guided frame needs a {verdict} hole")
        if self.code is not None and self.code.prelude and self.guided is None \
                and any(name for _, name, _, _ in string.Formatter().parse(self.code.prelude)):
            raise ValueError("a code prelude with {step}/{think}/{i} needs a guided prompt (a free chain's step is "
                             "unknown)")

    def render(self, problem: str, steps: Sequence[str]) -> str:
        """The prompt for one solution (its steps shown only in free chains' ``{steps}``)."""
        body = self.step_joiner.join(self.step_format.format(i=i, n=i + self.step_base, step=s)
                                     for i, s in enumerate(steps))
        return self.template.format(problem=problem, steps=body)


_THINKPRM = ("You are given a math problem and a proposed step-by-step solution:\n\n[Math Problem]\n\n{problem}\n\n"
             "[Solution]\n\n{steps}\n\nReview and critique each step in the proposed solution to determine whether "
             "each step is correct. If the solution is incomplete, only verify the provided steps\n")

VERIFIER_PROMPTS: dict[str, VerifierPrompt] = {
    # ThinkPRM (Khalifa et al. 2025): steps "Step k:", a verdict "The step is \boxed{correct}" after each
    "thinkprm": VerifierPrompt(template=_THINKPRM, chat=True, assistant_prefix="\nLet's verify step by step:"),
    # the ProcessBench critic, asked to verify each paragraph (paragraphs tagged as in the paper's prompt)
    "processbench": VerifierPrompt(
        template=("The following is a math problem and a solution (split into paragraphs, enclosed with tags and "
                  "indexed from 0):\n\n[Math Problem]\n\n{problem}\n\n[Solution]\n\n{steps}\n\nYour task is to "
                  "review and critique the solution paragraph by paragraph. After reviewing each paragraph, write "
                  "\"Paragraph i: \\boxed{{correct}}\" or \"Paragraph i: \\boxed{{incorrect}}\", and stop at the "
                  "first incorrect one.\n"),
        step_format="<paragraph_{i}>\n{step}\n</paragraph_{i}>", step_joiner="\n\n", step_base=0, chat=True,
        verdict=r"Paragraph\s+(?P<step>\d+)\s*:.*?\\boxed\{\s*(?P<verdict>correct|incorrect)\s*\}"),
    # the bundled world judge's critique (prmkit.world.judge): each step quoted, then "ok" or "wrong"
    "world-judge": VerifierPrompt(template="{problem}\nSolution:\n{steps}\nCritique:\n", step_format="Step {i}: {step}",
                                  step_base=0, correct="ok", incorrect="wrong",
                                  verdict=r"Step\s+(?P<step>\d+):[^\n]*?\s(?P<verdict>ok|wrong)(?=\n|$)"),
    # the world's verifiers (prmkit.world.verifier): the verifier derives each step before it is shown it;
    # the code variant's blocks get its derivation and the shown step as the strings ``mine`` and ``shown`` (and
    # the shown equation's sides as ``lhs``, ``rhs``); its frame is short, as a small model derives worse far back
    "world": VerifierPrompt(template="{problem}\nVerify:\n", guided="Step {i}:{think}| {step}{verdict}\n",
                            correct="ok", incorrect="wrong", verdict=r"(?P<verdict>ok|wrong)", step_base=0),
    "world-code": VerifierPrompt(template="{problem}\nVerify:\n", guided="Step {i}:{think}| {step}{verdict}\n",
                                 correct="ok", incorrect="wrong", verdict=r"(?P<verdict>ok|wrong)", step_base=0,
                                 code=CodeFormat(start=" [", end="]", output=" {output}", max_runs=16,
                                                 prelude='mine = {think!r}\nshown = {step!r}\n'
                                                         'lhs, _, rhs = shown.partition(" = ")\n')),
}


@dataclass
class Chain:
    """One verification chain: its text in parts (``(text, written_by_the_verifier)``), the verdict per step
    (``(correct?, value)``: value from log-probs, or None), and whether it was cut short."""

    segments: list[tuple[str, bool]] = field(default_factory=list)
    verdicts: dict[int, tuple[bool, Optional[float]]] = field(default_factory=dict)
    truncated: bool = False
    code_runs: int = 0
    tokens: int = 0  # generated by the verifier, all rounds
    read_tokens: int = 0  # read by the verifier (each call re-reads the prompt and the chain so far)
    stopped: bool = False  # a guided chain ended at an incorrect verdict
    out_of_budget: bool = False  # a budget-forcing round ran out of tokens (earlier rounds stand)
    fields: dict[str, Any] = field(default_factory=dict)  # the step being verified, for a code prelude

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.segments)

    def add(self, text: str, by_verifier: bool) -> None:
        if text:
            self.segments.append((text, by_verifier))


def verdict_value(completion: Completion, at: int, prompt: VerifierPrompt) -> Optional[float]:
    """``p(correct) / (p(correct) + p(incorrect))`` at the token where the verdict word starts (character ``at``
    of the completion), from its ``top_logprobs``; None without log-probs. A verdict word missing from the top
    alternatives counts as probability 0 (its true value is below the last one listed)."""
    if not completion.top_logprobs or not completion.offsets:
        return None
    j = max((k for k, o in enumerate(completion.offsets) if o <= at), default=None)
    if j is None:
        return None
    good, bad = prompt.correct.lower(), prompt.incorrect.lower()
    p_good = p_bad = 0.0
    for token, logprob in completion.top_logprobs[j].items():
        t = token.strip().lower()
        if not t:
            continue
        if good.startswith(t) and not bad.startswith(t):
            p_good += math.exp(logprob)
        elif bad.startswith(t) and not good.startswith(t):
            p_bad += math.exp(logprob)
    return p_good / (p_good + p_bad) if p_good + p_bad > 0 else None


class GenerativeScorer:
    """A ``StepScorer`` over any ``Generator``: ``k`` verification chains per solution, scored per step.

    Args:
        generator: any ``Generator`` (``Completes.complete`` gives log-probs and truncation; without it only
            votes are possible and a truncated chain cannot be told from a finished one).
        prompt: a ``VerifierPrompt`` or a key of ``VERIFIER_PROMPTS``.
        k: chains per solution (parallel scaling).
        rounds: budget-forcing rounds after the first pass (sequential scaling).
        scores: ``"logprobs"`` (the verdict token's probability, averaged over chains), ``"votes"`` (the share of
            chains that judge the step correct), or ``"auto"`` (log-probs when the generator gives them).
        temperature / max_tokens: sampling; ``max_tokens`` bounds one chain, all rounds together.
        hole_tokens: at most this many tokens per hole of a guided chain.
        top_logprobs: alternatives asked for per token (OpenAI's maximum is 20).
        sandbox: ``prmkit.sandbox.SandboxLimits`` for code blocks; ``network_isolation`` as ``run_python``'s.
        code_workers: code blocks run at once. A block's output is cached by its program (prelude and block) for the
            scorer's lifetime (verification code is meant to be deterministic; K chains often write the same one).
        seed: the same seed and inputs give the same chains.
    """

    def __init__(self, generator: Any, prompt: VerifierPrompt | str = "thinkprm", *, k: int = 1, rounds: int = 0,
                 scores: str = "auto", temperature: float = 0.7, max_tokens: int = 2048, hole_tokens: int = 48,
                 top_logprobs: int = 20, sandbox: Any = None, network_isolation: str = "require",
                 code_workers: int = 4, seed: Optional[int] = 0) -> None:
        if scores not in ("auto", "logprobs", "votes"):
            raise ValueError(f"scores must be 'auto', 'logprobs' or 'votes', not {scores!r}")
        if k < 1 or rounds < 0 or max_tokens < 1:
            raise ValueError(f"need k >= 1, rounds >= 0, max_tokens >= 1; got {k}, {rounds}, {max_tokens}")
        self.generator = generator
        self.prompt = VERIFIER_PROMPTS[prompt] if isinstance(prompt, str) else prompt
        self.k, self.rounds, self.temperature, self.max_tokens = k, rounds, temperature, max_tokens
        self.hole_tokens, self.top_logprobs, self.seed = hole_tokens, top_logprobs, seed
        can = callable(getattr(generator, "complete", None))
        if scores == "logprobs" and not can:
            raise ValueError("scores='logprobs' needs a generator with complete(..., top_logprobs=) "
                             "(HF, OpenAI-compatible, vLLM); use scores='votes'")
        self.mode = scores if scores != "auto" else ("logprobs" if can else "votes")
        self._auto = scores == "auto"
        self.sandbox, self.network_isolation, self.code_workers = sandbox, network_isolation, code_workers
        self._code_cache: dict[str, str] = {}
        self.report = {"tokens": 0, "generated_tokens": 0, "chains": 0, "truncated": 0, "unparseable": 0,
                       "code_runs": 0, "generate_calls": 0}
        tokenizer = getattr(generator, "tokenizer", None)
        self._count = (lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"])) if tokenizer is not None \
            else (lambda t: len(t.split()))

    # ----------------------------------------------------------------- StepScorer

    def score(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[StepScores]:
        if len(problems) != len(solutions):
            raise ValueError(f"{len(problems)} problems but {len(solutions)} solutions")
        return [self.step_scores(chains, len(sol.steps))
                for sol, chains in zip(solutions, self.chains(problems, solutions))]

    def step_scores(self, chains: Sequence[Chain], n_steps: int) -> StepScores:
        """A solution's step scores from its chains (any subset of them: the first k of K give the score at k)."""
        return StepScores(tuple(self._step_score(chains, i) for i in range(n_steps)))

    def _step_score(self, chains: Sequence[Chain], i: int) -> Optional[float]:
        values = []
        for chain in chains:
            if chain.truncated or i not in chain.verdicts:
                continue
            correct, value = chain.verdicts[i]
            values.append(value if self.mode == "logprobs" else float(correct))
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    # ----------------------------------------------------------------- chains

    def chains(self, problems: Sequence[Problem], solutions: Sequence[Solution]) -> list[list[Chain]]:
        """``k`` chains per solution (the text, the verdicts read from it, and whether it was truncated)."""
        rows = [(s, self._prompt(p.question, sol.steps), sol.steps)
                for s, (p, sol) in enumerate(zip(problems, solutions)) for _ in range(self.k)]
        chains = [Chain() for _ in rows]
        live = [j for j, (_, _, steps) in enumerate(rows) if steps]  # an empty solution has nothing to verify
        for r in range(self.rounds + 1):
            earlier = {}
            for j in live:
                if r > 0:
                    chains[j].add(self.prompt.double_check, False)
                earlier[j], chains[j].verdicts, chains[j].stopped = chains[j].verdicts, {}, False
            run = self._guided_pass if self.prompt.guided is not None else self._free_pass
            run([rows[j] for j in live], [chains[j] for j in live], 1000 * r)
            for j in live:  # a later round's verdicts replace earlier ones; a round cut short adds nothing
                if chains[j].truncated and r > 0:
                    chains[j].truncated, chains[j].verdicts = False, earlier[j]
                    chains[j].out_of_budget = True
                else:
                    chains[j].verdicts = {**earlier[j], **chains[j].verdicts}
            live = [j for j in live if not chains[j].truncated and not chains[j].out_of_budget]
        self.report["chains"] += len(rows)
        self.report["truncated"] += sum(c.truncated for c in chains)
        out: list[list[Chain]] = [[] for _ in solutions]
        for (s, _, steps), chain in zip(rows, chains):
            wrong = min((i for i, (ok, _) in chain.verdicts.items() if not ok), default=len(steps) - 1)
            self.report["unparseable"] += 0 if chain.truncated else sum(i not in chain.verdicts for i in range(wrong + 1))
            out[s].append(chain)
        return out

    def _prompt(self, question: str, steps: Sequence[str]) -> str:
        text = self.prompt.render(question, steps if self.prompt.guided is None else ())
        tokenizer = getattr(self.generator, "tokenizer", None)
        if self.prompt.chat and getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True)
        return text + self.prompt.assistant_prefix

    def _complete(self, prompts: list[str], stop: list[str], max_tokens: list[int], seed: int) -> list[Completion]:
        """One batched call (rows grouped by their token budget); every token read and written is counted."""
        out: list[Optional[Completion]] = [None] * len(prompts)
        for budget in sorted(set(max_tokens)):
            idx = [j for j, m in enumerate(max_tokens) if m == budget]
            args = dict(n=1, stop=stop, max_tokens=budget, temperature=self.temperature,
                        seed=None if self.seed is None else self.seed + seed)
            if callable(getattr(self.generator, "complete", None)):
                got = self.generator.complete([prompts[j] for j in idx],
                                              top_logprobs=self.top_logprobs if self.mode == "logprobs" else 0, **args)
                got = [row[0] for row in got]
            else:
                got = [Completion(row[0], "stop", None, self._count(row[0]))
                       for row in self.generator.generate([prompts[j] for j in idx], **args)]
            self.report["generate_calls"] += 1
            if self.mode == "logprobs" and any(c.top_logprobs is None and c.text for c in got):
                if not self._auto:
                    raise ValueError("the generator returned no log-probs (e.g. transformers serve); use scores='votes'")
                import logging

                logging.getLogger("prmkit").warning("the generator returned no log-probs: scoring by votes")
                self.mode = "votes"
            for j, c in zip(idx, got):
                out[j] = c
        return out  # type: ignore[return-value]

    def _budget(self, chain: Chain, cap: int) -> int:
        return max(0, min(cap, self.max_tokens - chain.tokens))

    def _run_code(self, chains: list[Chain], texts: list[str]) -> list[bool]:
        """Run the block each text opens (in parallel; an output is cached by its program) and append its
        output to its chain; False where no block was open."""
        code = self.prompt.code
        blocks = [code.prelude.format(**c.fields) + t[t.rindex(code.start) + len(code.start):]
                  if code and code.start in t else None for c, t in zip(chains, texts)]
        todo = {b for b, c in zip(blocks, chains) if b is not None and c.code_runs < code.max_runs
                and b not in self._code_cache}
        if todo:
            from concurrent.futures import ThreadPoolExecutor

            from ..sandbox import SandboxLimits, run_python

            limits = self.sandbox or SandboxLimits()
            with ThreadPoolExecutor(self.code_workers) as pool:
                done = pool.map(lambda b: run_python(b, limits, network_isolation=self.network_isolation), sorted(todo))
                for block, result in zip(sorted(todo), done):
                    self._code_cache[block] = result.as_text().strip()
                    self.report["code_runs"] += 1
        opened = []
        for chain, block in zip(chains, blocks):
            if block is None:
                opened.append(False)
                continue
            if chain.code_runs >= code.max_runs:
                output = "not run: too many code blocks"
            else:
                output = self._code_cache[block]
                chain.code_runs += 1
            chain.add(code.end, True)  # the verifier wrote it: generation stopped there
            chain.add(code.output.format(output=output), False)
            opened.append(True)
        return opened

    def _generate_into(self, rows: list[str], chains: list[Chain], stop: Optional[str], cap: int,
                       seed: int) -> list[list[tuple[int, Completion]]]:
        """Generate into every chain until ``stop`` or EOS (running code blocks on the way); per chain, each
        completion with the character offset in the chain where it starts."""
        pieces: list[list[tuple[int, Completion]]] = [[] for _ in chains]
        code = self.prompt.code
        stops = [s for s in (stop, code.end if code else None) if s]
        todo = [j for j, c in enumerate(chains) if not c.truncated]
        for attempt in range(code.max_runs + 1 if code else 1):
            for j in todo:
                chains[j].truncated = self._budget(chains[j], cap) == 0
            todo = [j for j in todo if not chains[j].truncated]
            if not todo:
                break
            got = self._complete([rows[j] + chains[j].text for j in todo], stops,
                                 [self._budget(chains[j], cap) for j in todo], seed + attempt)
            blocks = []
            for j, c in zip(todo, got):
                read = self._count(rows[j] + chains[j].text)
                chains[j].read_tokens += read
                chains[j].tokens += c.tokens
                self.report["tokens"] += read + c.tokens
                self.report["generated_tokens"] += c.tokens
                pieces[j].append((len(chains[j].text), c))
                chains[j].add(c.text, True)
                if c.finish == "length":
                    chains[j].truncated = True
                elif code and c.stop == code.end:
                    blocks.append(j)
            ran = self._run_code([chains[j] for j in blocks], [pieces[j][-1][1].text for j in blocks]) if blocks else []
            todo = [j for j, opened in zip(blocks, ran) if opened]
        return pieces

    def _guided_pass(self, rows: list[tuple[int, str, tuple[str, ...]]], chains: list[Chain], seed_offset: int) -> None:
        frame = _frame(self.prompt.guided or "")
        prompts = [p for _, p, _ in rows]
        longest = max((len(steps) for _, _, steps in rows), default=0)
        for i in range(longest):
            active = [j for j, (_, _, steps) in enumerate(rows)
                      if i < len(steps) and not chains[j].truncated and not chains[j].stopped]
            ended: dict[int, Optional[str]] = {}  # the stop each chain's last hole ended at
            for j in active:
                chains[j].fields = {"i": i, "step": rows[j][2][i], "think": ""}
            for k, (kind, part) in enumerate(frame):
                if kind == "text":
                    for j in active:
                        text = part.format(i=i, n=i + self.prompt.step_base, step=rows[j][2][i])
                        stop = ended.pop(j, None)
                        if stop and text.startswith(stop):  # the verifier wrote the stop (the completion left it out)
                            chains[j].add(stop, True)
                            text = text[len(stop):]
                        chains[j].add(text, False)
                    continue
                stop = frame[k + 1][1].split("{")[0].rstrip(" ")
                sub = [chains[j] for j in active]
                pieces = self._generate_into([prompts[j] for j in active], sub, stop, self.hole_tokens,
                                             seed_offset + 10 * i + k)
                ended = {j: got[-1][1].stop for j, got in zip(active, pieces) if got}
                if part == "think":
                    for chain, got in zip(sub, pieces):
                        chain.fields["think"] = "".join(c.text for _, c in got).strip()
                if part != "verdict":
                    continue
                for chain, got in zip(sub, pieces):
                    if chain.truncated or not got:
                        continue
                    last = got[-1][1]
                    found = list(re.finditer(self.prompt.verdict, last.text, re.I | re.S))
                    if not found:
                        continue
                    m = found[-1]
                    correct = m.group("verdict").lower() == self.prompt.correct.lower()
                    chain.verdicts[i] = (correct, verdict_value(last, m.start("verdict"), self.prompt))
                    if not correct and self.prompt.after_error == "stop":
                        chain.stopped = True

    def _free_pass(self, rows: list[tuple[int, str, tuple[str, ...]]], chains: list[Chain], seed_offset: int) -> None:
        prompts = [p for _, p, _ in rows]
        starts = [len(c.text) for c in chains]
        pieces = self._generate_into(prompts, chains, None, self.max_tokens, seed_offset)
        for (_, _, steps), chain, got, start in zip(rows, chains, pieces, starts):
            if chain.truncated:
                continue
            order = 0
            for m in re.finditer(self.prompt.verdict, chain.text[start:], re.I | re.S):
                i = int(m.group("step")) - self.prompt.step_base if m.groupdict().get("step") else order
                order += 1
                if not 0 <= i < len(steps):
                    continue
                correct = m.group("verdict").lower() == self.prompt.correct.lower()
                at = start + m.start("verdict")
                value = next((verdict_value(c, at - o, self.prompt) for o, c in got if o <= at < o + len(c.text)), None)
                chain.verdicts[i] = (correct, value)
                if not correct and self.prompt.after_error == "stop":
                    break
