"""GenerativeScorer: verdicts read from chains, scores from verdict-token probabilities or votes, nothing guessed.

The chain-reading logic is checked with a scripted generator (its chains are written out below, so every
expected number is computed by hand); the HF path with the bundled verifier, whose verdict probabilities
must equal those of a plain forward pass over the chain it wrote."""

from __future__ import annotations

import math

import pytest

from prmkit.backends.generative import VERIFIER_PROMPTS, GenerativeScorer, VerifierPrompt
from prmkit.backends.protocols import Completion
from prmkit.types import Problem, Solution

PROBLEM = Problem("p", "What is 2 + 3 - 1?")
SOLUTION = Solution(("2 + 3 = 5", "5 - 1 = 3", "The answer is 3."))


def _chain(*verdicts: tuple[str, float]) -> Completion:
    """A ThinkPRM-style chain, one line per (verdict, p(verdict word)) with that token's top log-probs."""
    text, tops, offsets = "", [], []
    for n, (word, p) in enumerate(verdicts, 1):
        line = f"Step {n}: checking. The step is \\boxed{{"
        first = "correct" if word == "correct" else "in"
        other = "in" if word == "correct" else "correct"
        offsets.append(len(text) + len(line))
        tops.append({first: math.log(p), other: math.log(1 - p)})
        text += line + word + "}\n"
    return Completion(text, "stop", None, len(text.split()), tuple(tops), tuple(offsets))


class Scripted:
    """Returns the given completions in turn (one per prompt per call); records the prompts it was sent."""

    def __init__(self, *completions: Completion) -> None:
        self.completions, self.prompts = list(completions), []

    def complete(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None, top_logprobs=0):
        self.prompts += list(prompts)
        return [[self.completions.pop(0) for _ in range(n)] for _ in prompts]

    def generate(self, prompts, **kwargs):
        return [[c.text for c in row] for row in self.complete(prompts, **kwargs)]


def test_scores_are_verdict_probabilities_and_stop_after_the_first_incorrect():
    gen = Scripted(_chain(("correct", 0.9), ("incorrect", 0.8), ("correct", 0.99)),
                   _chain(("correct", 0.7), ("correct", 0.6), ("correct", 0.5)))
    scorer = GenerativeScorer(gen, "thinkprm", k=2, scores="logprobs", temperature=0.7)
    (scores,) = scorer.score([PROBLEM], [SOLUTION])
    # step 1: (0.9 + 0.7) / 2; step 2: p(correct) 0.2 and 0.6; step 3: the first chain stopped verifying at step 2
    assert scores.values == pytest.approx(((0.9 + 0.7) / 2, (0.2 + 0.6) / 2, 0.5))
    assert "[Solution]" in gen.prompts[0] and "Step 2: 5 - 1 = 3" in gen.prompts[0]
    votes = GenerativeScorer(Scripted(_chain(("correct", 0.9), ("incorrect", 0.8), ("correct", 0.99)),
                                      _chain(("correct", 0.7), ("correct", 0.6), ("correct", 0.5))),
                             "thinkprm", k=2, scores="votes")
    assert votes.score([PROBLEM], [SOLUTION])[0].values == (1.0, 0.5, 1.0)


def test_no_score_from_an_empty_unparseable_or_truncated_chain():
    empty = Completion("", "stop", None, 0, (), ())
    unparseable = Completion("All steps look fine to me.", "stop", None, 6, ({},) * 6, tuple(range(6)))
    full = _chain(("correct", 0.9), ("correct", 0.9), ("correct", 0.9))
    truncated = Completion(full.text, "length", None, full.tokens, full.top_logprobs, full.offsets)
    for chain in (empty, unparseable, truncated):
        scorer = GenerativeScorer(Scripted(chain), "thinkprm", k=1, scores="logprobs")
        assert scorer.score([PROBLEM], [SOLUTION])[0].values == (None, None, None), chain
    assert scorer.report["truncated"] == 1
    # a chain that skips step 2's verdict: step 2 unscored, the others read
    gap = Completion("Step 1: \\boxed{correct}\nStep 3: \\boxed{correct}\n", "stop", None, 8)
    assert GenerativeScorer(Scripted(gap), "thinkprm", scores="votes").score([PROBLEM], [SOLUTION])[0].values == (1.0, None, 1.0)
    # an empty solution: nothing to verify, no call made
    gen = Scripted()
    assert GenerativeScorer(gen, "thinkprm").score([PROBLEM], [Solution(())])[0].values == ()
    assert gen.prompts == []


def test_budget_forcing_continues_the_chain_and_a_later_round_replaces_verdicts():
    first = Completion("Step 1: \\boxed{correct}\nStep 2: \\boxed{correct}\nStep 3: \\boxed{correct}\n", "stop", None, 12)
    second = Completion("Step 2: \\boxed{incorrect}\n", "stop", None, 4)
    gen = Scripted(first, second)
    scorer = GenerativeScorer(gen, "thinkprm", k=1, rounds=1, scores="votes")
    assert scorer.score([PROBLEM], [SOLUTION])[0].values == (1.0, 0.0, 1.0)
    assert gen.prompts[1].endswith(first.text + "\nLet me double check.\n")
    assert scorer.report["generated_tokens"] == 16
    # a round that runs out of tokens adds nothing: the first round's verdicts stand
    cut = Completion("Step 2: \\boxed{incorrect}", "length", None, 4)
    scorer = GenerativeScorer(Scripted(first, cut), "thinkprm", k=1, rounds=1, scores="votes")
    assert scorer.score([PROBLEM], [SOLUTION])[0].values == (1.0, 1.0, 1.0)


def test_code_blocks_run_in_the_sandbox_and_their_output_is_appended():
    pytest.importorskip("prmkit.sandbox")
    from prmkit.sandbox import available

    if available() is not None:
        pytest.skip(f"no sandbox on this machine: {available()}")
    prompt = VerifierPrompt(template="{problem}\n{steps}\n", code=VERIFIER_PROMPTS["processbench"].code
                            or __import__("prmkit.backends.generative", fromlist=["CodeFormat"]).CodeFormat())
    gen = Scripted(Completion("Step 1: ```python\nprint(2 + 3)", "stop", "\n```", 8),
                   Completion(" so \\boxed{correct}\nStep 2: ```python\nwhile True: pass", "stop", "\n```", 10),
                   Completion(" \\boxed{incorrect}\n", "stop", None, 3))
    scorer = GenerativeScorer(gen, prompt, scores="votes")
    (chain,) = scorer.chains([PROBLEM], [SOLUTION])[0]
    assert "```output\n5\n```" in gen.prompts[1]
    assert chain.code_runs == 2 and scorer.report["code_runs"] == 2
    assert chain.verdicts[0][0] and not chain.verdicts[1][0]
    hostile = chain.text.split("while True: pass")[1]
    assert "```output\n" in hostile and "5" not in hostile.split("```output\n")[1].split("```")[0]


def test_a_code_prelude_gives_the_block_the_step_and_the_derivation_as_data():
    from prmkit.backends.generative import CodeFormat
    from prmkit.sandbox import available

    if available() is not None:
        pytest.skip(f"no sandbox on this machine: {available()}")
    prompt = VerifierPrompt(template="{problem}\n", guided="Step {i}:{think}| {step}{verdict}\n", correct="ok",
                            incorrect="wrong", verdict=r"(?P<verdict>ok|wrong)", step_base=0,
                            code=CodeFormat(start="<py>", end="</py>", output="<out>{output}</out>",
                                            prelude="mine = {think!r}\nshown = {step!r}\ni = {i}\n"))
    hostile = 'x = 1"); import os; print(os.getcwd()); ("'  # a step is a string literal in the prelude, never code
    block = Completion(" <py>print(i, mine == shown, repr(shown))", "stop", "</py>", 6)
    gen = Scripted(Completion(" 2 + 3 = 5 ", "stop", "|", 5), block, Completion(" ok", "stop", "\n", 1),
                   Completion(" x = 1 ", "stop", "|", 3), block, Completion(" wrong", "stop", "\n", 1))
    (chain,) = GenerativeScorer(gen, prompt, scores="votes").chains([PROBLEM], [Solution(("2 + 3 = 5", hostile))])[0]
    assert "<out>0 True '2 + 3 = 5'</out> ok" in chain.text
    assert f"<out>1 False {hostile!r}</out> wrong" in chain.text
    assert chain.verdicts == {0: (True, None), 1: (False, None)} and chain.code_runs == 2
    assert "mine = '" not in chain.text and "shown = " not in chain.text  # the prelude runs, it is not shown
    with pytest.raises(ValueError, match="unknown field"):
        CodeFormat(prelude="x = {problem!r}")
    with pytest.raises(ValueError, match="needs a guided prompt"):
        VerifierPrompt(template="{problem}", code=CodeFormat(prelude="shown = {step!r}"))


def test_scores_option_needs_logprobs_and_auto_falls_back_to_votes():
    class TextOnly:
        def generate(self, prompts, **kwargs):
            return [["Step 1: \\boxed{correct}\nStep 2: \\boxed{incorrect}"] for _ in prompts]

    with pytest.raises(ValueError, match="scores='votes'"):
        GenerativeScorer(TextOnly(), scores="logprobs")
    assert GenerativeScorer(TextOnly()).score([PROBLEM], [SOLUTION])[0].values == (1.0, 0.0, None)
    no_logprobs = Completion("Step 1: \\boxed{correct}\n", "stop", None, 3)  # what transformers serve returns
    scorer = GenerativeScorer(Scripted(no_logprobs), "thinkprm")
    assert scorer.score([PROBLEM], [SOLUTION])[0].values == (1.0, None, None) and scorer.mode == "votes"


def test_bundled_verifier_probabilities_equal_a_forward_pass_over_its_chain():
    import torch

    from prmkit.backends import load_scorer
    from prmkit.world import generate, gold_steps

    scorer = load_scorer("bundled-verifier", spec="generative,k=1,temperature=0")
    problem = generate(1, seed=4)[0]
    steps = list(gold_steps(problem))
    steps[1] = steps[1].rsplit("= ", 1)[0] + "= 999"  # an arithmetic error
    (chain,) = scorer.chains([problem.to_problem()], [Solution(tuple(steps))])[0]
    assert 0 in chain.verdicts
    model, tok = scorer.generator.model, scorer.generator.tokenizer
    prompt = scorer._prompt(problem.text, steps)
    ok, wrong = tok.convert_tokens_to_ids(" ok"), tok.convert_tokens_to_ids(" wrong")
    pos, checked = 0, 0
    for text, by in chain.segments:
        if by and text.strip() in ("ok", "wrong"):
            ids = tok(prompt + chain.text[:pos], return_tensors="pt")["input_ids"]
            with torch.no_grad():
                logp = model(ids).logits[0, -1].log_softmax(-1)
            expected = float(logp[ok].exp() / (logp[ok].exp() + logp[wrong].exp()))
            assert chain.verdicts[checked][1] == pytest.approx(expected, abs=1e-4)
            checked += 1
        pos += len(text)
    assert checked == len(chain.verdicts) >= 2


def test_scores_through_transformers_serve_equal_in_process_scores(tmp_path_factory, transformers_serve):
    """The bundled verifier served by a real ``transformers serve`` on loopback gives the same step scores as
    in process. That server returns no log-probs, so both score by votes; greedy chains, so they must be equal."""
    from prmkit.backends import load_scorer
    from prmkit.backends.openai_http import OpenAIGenerator
    from prmkit.world.export import world_examples
    from prmkit.world.verifier import BUNDLED_VERIFIER

    examples = world_examples(6, seed=7)
    problems, solutions = [e.problem for e in examples], [e.solution for e in examples]
    local = load_scorer("bundled-verifier", spec="generative,k=1,temperature=0,scores=votes")
    expected = local.score(problems, solutions)
    with transformers_serve(BUNDLED_VERIFIER, tmp_path_factory.mktemp("serve-verifier")) as url:
        # server_stop=False: the world's word-level vocabulary trips transformers' server-side stop strings
        gen = OpenAIGenerator(url, str(BUNDLED_VERIFIER), timeout=60, max_retries=1, concurrency=1, server_stop=False)
        remote = GenerativeScorer(gen, "world", k=1, temperature=0, hole_tokens=local.hole_tokens)
        got = remote.score(problems, solutions)
        assert remote.mode == "votes"  # auto: the server sent no log-probs
    assert [s.values for s in got] == [s.values for s in expected]
    assert sum(v is not None for s in got for v in s.values) >= 10
    assert all(v in (0.0, 1.0) for s in got for v in s.values if v is not None)  # votes of one greedy chain


def test_bundled_code_verifier_runs_its_blocks_in_the_sandbox_and_reads_their_output():
    import re

    from prmkit.backends import load_scorer
    from prmkit.sandbox import available, run_python
    from prmkit.world import generate, gold_steps

    if available() is not None:
        pytest.skip(f"no sandbox on this machine: {available()}")
    scorer = load_scorer("bundled-code-verifier", spec="generative,k=1,temperature=0")
    problem = generate(1, seed=4)[0]
    steps = list(gold_steps(problem))
    steps[1] = steps[1].rsplit(" ", 1)[0] + f" {int(steps[1].rsplit(' ', 1)[1]) + 1}"  # a wrong result
    (chain,) = scorer.chains([problem.to_problem()], [Solution(tuple(steps))])[0]
    assert chain.code_runs == len(chain.verdicts) == 2 and scorer.report["code_runs"] == 2
    lines = [re.fullmatch(r"Step (\d+): (.*?) \| (.*?) \[(.*?)\] (.*) (ok|wrong)", line)
             for line in chain.text.strip().split("\n")]
    assert all(lines) and [m.group(3) for m in lines] == steps[:2]
    prelude = scorer.prompt.code.prelude
    for m in lines:  # what follows each block is what the block printed, the prelude run first with the step as data
        mine, shown, block, output = m.group(2), m.group(3), m.group(4), m.group(5)
        ran = run_python(prelude.format(i=int(m.group(1)), think=mine, step=shown) + block).stdout.strip()
        assert output == ran and output.split()[0] == str(mine == shown)
    assert lines[1].group(5) == f"{lines[1].group(2) == steps[1]} False" and lines[1].group(6) == "wrong"
    assert all(not by for t, by in chain.segments if t.strip() in {m.group(5) for m in lines})  # never the verifier's
