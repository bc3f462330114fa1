"""The its_hub side of ``benchmarks/search_vs_its_hub.py``: its_hub's own search algorithms, run inside the
its_hub venv, on prmkit's policy and PRM through its_hub's two extension interfaces.

* ``PrmkitLM`` (an ``its_hub`` ``AbstractLanguageModel``): renders each conversation the way prmkit's
  ``StepPolicy`` renders a prompt (``template`` around the user turn, then the assistant's text so far) and samples
  it with prmkit's ``HFGenerator`` (the bundled policy), the whole batch in one ``generate`` call, with the seed of
  the search plus the number of calls made so far in it (prmkit's strategies use ``seed + depth``).
* ``BatchOrchestrator`` (an ``AbstractOrchestrator``): its_hub's default ``LMOrchestrator`` sends one request per
  candidate and leaves batching to the server (vLLM batches concurrent requests); with an in-process model that
  would be N one-row ``generate`` calls, so this orchestrator hands the batch to ``PrmkitLM.agenerate`` at once.
* ``PrmkitPRM`` (``AbstractProcessRewardModel``) and ``PrmkitORM`` (``AbstractOutcomeRewardModel``, for
  ``BestOfN``): split each response into steps at the separator and score them with prmkit's ``HFStepScorer``,
  one ``score`` call per its_hub call, returning one aggregated score per response. its_hub hands the PRM whole
  responses, so every call re-reads every prefix in full (``incremental=False``), and each response is read in
  full, the question too (``share_prefix=False``), as ``reward_hub``'s batched HF PRM (its Qwen2.5-Math-PRM path:
  one padded batch of whole conversations) reads them: the PRM tokens read are ``scorer.report["tokens"]``,
  counted as prmkit counts its own.

Protocol: the driver writes a config line, then one job line per (method, N) on stdin; each gets one JSON line
back on the process's original stdout (everything printed meanwhile goes to stderr). Only the standard library is
imported at module level; prmkit comes from ``PRMKIT_SRC`` on ``sys.path`` (it is not installed in this venv).
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("PRMKIT_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")))


def build(cfg: dict):
    """The adapters and its_hub's algorithm classes, built once per process."""
    import random

    import numpy as np
    from its_hub.api import (AbstractLanguageModel, AbstractOrchestrator, AbstractOutcomeRewardModel,
                             AbstractProcessRewardModel, ChatMessage)
    from its_hub.core.algorithms.beam_search import BeamSearch
    from its_hub.core.algorithms.bon import BestOfN
    from its_hub.core.algorithms.particle_gibbs import ParticleFiltering
    from its_hub.core.lms.step_generation import StepGeneration

    from prmkit.aggregate import aggregate
    from prmkit.annotate.rollouts import count_tokens_with
    from prmkit.backends import load_generator, load_scorer
    from prmkit.types import Problem, Solution

    sep = cfg["separator"]

    def render(conversation) -> str:
        text = ""
        for m in conversation:
            content = m.extract_text_content()
            text += cfg["template"].format(question=content) if m.role == "user" else content
        return text

    class PrmkitLM(AbstractLanguageModel):
        def __init__(self, generator):
            self.generator, self.count_tokens = generator, count_tokens_with(generator)
            self.seed, self.calls, self.generated_tokens = None, 0, 0

        def start(self, seed: int) -> None:
            self.seed, self.calls, self.generated_tokens = seed, 0, 0

        async def agenerate(self, messages, stop=None, max_completion_tokens=None, temperature=None, **kwargs):
            single = bool(messages) and isinstance(messages[0], ChatMessage)
            batch = [messages] if single else messages
            if isinstance(temperature, list):  # StepGeneration's temperature_switch (off here): one value per row
                if len(set(temperature)) > 1:
                    raise NotImplementedError("per-row temperatures")
                temperature = temperature[0]
            if max_completion_tokens is None:  # prmkit's StepPolicy: a step, or a whole solution when unstopped
                max_completion_tokens = cfg["max_step_tokens"] * (1 if stop else cfg["max_steps"])
            texts = self.generator.generate([render(c) for c in batch], n=1,
                                            stop=[stop] if isinstance(stop, str) else stop,
                                            max_tokens=max_completion_tokens,
                                            temperature=cfg["temperature"] if temperature is None else temperature,
                                            seed=None if self.seed is None else self.seed + self.calls)
            self.calls += 1
            out = [{"role": "assistant", "content": t[0]} for t in texts]
            self.generated_tokens += sum(self.count_tokens(o["content"]) for o in out)
            return out[0] if single else out

        async def agenerate_single(self, messages, stop=None, **kwargs):
            return await self.agenerate(messages, stop=stop, **kwargs)

    class BatchOrchestrator(AbstractOrchestrator):
        async def agenerate(self, lm, messages_lst, stop=None, max_tokens=None, max_completion_tokens=None,
                            temperature=None, usage_accumulator=None, **kwargs):
            if not messages_lst:
                return []
            return await lm.agenerate(messages_lst, stop=stop, max_completion_tokens=max_completion_tokens or max_tokens,
                                      temperature=temperature)

    class Scoring:
        """What both reward-model adapters share: steps from responses, one ``score`` call, aggregation."""

        def __init__(self, scorer):
            self.scorer, self.problem, self.how, self.calls, self.seconds = scorer, None, "min", 0, 0.0

        def responses(self, question: str, responses: list[str]) -> list[float]:
            assert question == self.problem.question, "its_hub asked about another question"
            solutions = [Solution(tuple(s.strip() for s in r.split(sep) if s.strip())) for r in responses]
            todo = [i for i, s in enumerate(solutions) if s.steps]
            started = time.perf_counter()
            scored = self.scorer.score([self.problem] * len(todo), [solutions[i] for i in todo]) if todo else []
            self.seconds += time.perf_counter() - started
            self.calls += bool(todo)
            values = [0.0] * len(responses)  # no step, or no step scored: ranks last, as prmkit's None does
            for i, s in zip(todo, scored):
                v = aggregate(s.values, self.how)
                values[i] = 0.0 if v is None else float(v)
            return values

    class PrmkitPRM(AbstractProcessRewardModel):
        def __init__(self, scoring):
            self.scoring = scoring

        def score(self, prompt_or_messages, steps):
            single = isinstance(steps, str)
            out = self.scoring.responses(prompt_or_messages, [steps] if single else list(steps))
            return out[0] if single else out

        async def ascore(self, prompt_or_messages, steps):
            return self.score(prompt_or_messages, steps)

    class PrmkitORM(AbstractOutcomeRewardModel):
        def __init__(self, scoring):
            self.scoring = scoring

        def score(self, messages, **kwargs):
            single = bool(messages) and isinstance(messages[0], ChatMessage)
            conversations = [messages] if single else messages
            question = conversations[0][0].extract_text_content()
            out = self.scoring.responses(question, [c[-1].extract_text_content() for c in conversations])
            return out[0] if single else out

        async def ascore(self, messages, orchestrator=None, **kwargs):
            return self.score(messages)

    scorer = load_scorer(cfg["prm"])
    if hasattr(scorer, "incremental"):
        scorer.incremental = False  # its_hub's design: the whole response, every call
        scorer.share_prefix = False  # each response read in full, as reward_hub's batched HF PRM reads them
    lm = PrmkitLM(load_generator(cfg["generator"]))
    scoring = Scoring(scorer)

    def algorithm(method: str, n: int):
        # StepGeneration stops a path when its new step holds stop_token or it already had max_steps steps, so
        # max_steps - 1 gives prmkit's cap of max_steps steps
        sg = StepGeneration(max_steps=cfg["max_steps"] - 1, step_token=sep, stop_token=cfg["stop_token"],
                            temperature=cfg["temperature"])
        if method == "best-of-n":
            return BestOfN(PrmkitORM(scoring), orchestrator=BatchOrchestrator())
        if method == "beam":
            # its_hub's beam_width is the number of beams kept; each is duplicated budget // beam_width times.
            # prmkit keeps n // width beams of width children (width = min(beam_width, n)): the same tree
            width = min(cfg["beam_width"], n)
            return BeamSearch(sg, PrmkitPRM(scoring), beam_width=max(1, n // width))
        if method == "particle-filtering":
            return ParticleFiltering(sg, PrmkitPRM(scoring))
        raise ValueError(f"no its_hub algorithm for {method!r}")

    def run(job: dict) -> dict:
        method, n = job["method"], job["n"]
        scoring.how = job["aggregate"]
        records = []
        for p in job["problems"]:
            problem = Problem(p["id"], p["question"])
            scoring.problem, scoring.calls, scoring.seconds = problem, 0, 0.0
            lm.start(p["seed"])
            random.seed(p["seed"])  # ParticleFiltering resamples with the random module
            np.random.seed(p["seed"] % 2**32)
            search = algorithm(method, n)
            before = scorer.report["tokens"]
            started = time.perf_counter()
            result = search.infer(lm, problem.question, n, return_response_only=False)
            seconds = time.perf_counter() - started
            records.append({"id": p["id"], "text": result.the_one.get("content") or "",
                            "candidates": [r.get("content") or "" for r in result.responses],
                            "scores": [float(s) for s in getattr(result, "scores", getattr(result, "log_weights_lst", []))],
                            "seconds": seconds, "prm_seconds": scoring.seconds,
                            "prm_tokens": scorer.report["tokens"] - before,
                            "generated_tokens": lm.generated_tokens, "generate_calls": lm.calls,
                            "score_calls": scoring.calls})
        return {"records": records}

    return run


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # library output must not reach the protocol stream
    cfg = json.loads(sys.stdin.readline())
    import torch

    torch.set_num_threads(cfg["threads"])
    run = build(cfg)
    import importlib.metadata as md

    versions = {p: md.version(p) for p in ("its_hub", "torch", "transformers", "numpy")}
    protocol.write(json.dumps({"ready": True, "versions": versions, "threads": torch.get_num_threads()}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        if line.strip():
            protocol.write(json.dumps(run(json.loads(line))) + "\n")
            protocol.flush()


if __name__ == "__main__":
    main()
