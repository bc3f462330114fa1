"""Incremental step scoring: reading only the new step on top of the cached prefix gives full re-scoring's scores."""

import pytest
import torch
import transformers

from prmkit.backends.families import get_spec
from prmkit.backends.hf_transformers import HFStepScorer
from prmkit.types import Solution
from prmkit.world.export import world_examples
from prmkit.world.policy import BUNDLED_POLICY


def _scorers(spec_name, **kwargs):
    torch.manual_seed(0)
    spec = get_spec(spec_name)
    tok = transformers.AutoTokenizer.from_pretrained(str(BUNDLED_POLICY))
    if spec.head == "implicit":
        model = transformers.AutoModelForCausalLM.from_pretrained(str(BUNDLED_POLICY))
        with torch.no_grad():  # a policy that moved away from its reference
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        ref = transformers.AutoModelForCausalLM.from_pretrained(str(BUNDLED_POLICY))
        kwargs["reference"] = ref
    else:
        tok.add_tokens([spec.step_tag.strip()])
        if spec.head == "lm_words":
            model = transformers.AutoModelForCausalLM.from_pretrained(str(BUNDLED_POLICY))
        else:
            model = transformers.AutoModelForTokenClassification.from_pretrained(
                str(BUNDLED_POLICY), num_labels=1 if spec.head == "value" else 2)
        model.resize_token_embeddings(len(tok))
    return HFStepScorer(model, tok, spec, **kwargs), HFStepScorer(model, tok, spec, incremental=True, **kwargs)


@pytest.mark.parametrize("spec", ["prmkit", "prmkit-implicit"])
def test_incremental_scores_equal_full_rescoring(spec):
    full, inc = _scorers(spec)
    examples = world_examples(6, source="injected", seed=4)
    read_in_full = 0
    for ex in examples:
        for k in range(1, len(ex.solution.steps) + 1):  # the way search grows a solution
            got = inc.score([ex.problem], [Solution(ex.solution.steps[:k])])[0].values
            want = full.score([ex.problem], [Solution(ex.solution.steps[:k])])[0].values
            assert got == pytest.approx(want, abs=1e-4)
        read_in_full += len(full.encode(ex.problem, ex.solution.steps).input_ids)
    assert len(set(round(v, 3) for v in got)) > 1
    # every token was read once: the incremental scorer read exactly the final solutions' tokens
    assert inc.report["tokens"] == read_in_full
    # a sibling (same prefix, other last step) reuses the prefix too
    ex = examples[0]
    before = inc.report["tokens"]
    sibling = ex.solution.steps[:-1] + ("1 + 1 = 2",)
    assert inc.score([ex.problem], [Solution(sibling)])[0].values == pytest.approx(
        full.score([ex.problem], [Solution(sibling)])[0].values, abs=1e-4)
    assert inc.report["tokens"] - before < len(full.encode(ex.problem, sibling).input_ids) / 2


@pytest.mark.parametrize("spec", ["prmkit", "prmkit-implicit", "prmkit-words", "prmkit-value"])
def test_one_questions_solutions_read_the_tokens_they_share_once(spec):
    """Best-of-N's candidates share at least the question: plain and incremental scoring read it once per call."""
    alone, inc = _scorers(spec, share_prefix=False)
    shared = HFStepScorer(alone.model, alone.tokenizer, alone.spec, reference=alone.reference)
    inc.share_prefix = True
    examples = world_examples(4, source="injected", seed=4)
    first, second, third = (ex.problem for ex in examples[:3])
    candidates = [ex.solution.steps for ex in examples] + [examples[0].solution.steps[:2]]
    problems = [first] * len(candidates) + [second] * 2 + [third]
    solutions = [Solution(c) for c in candidates] + [Solution(examples[1].solution.steps[:k]) for k in (1, 3)] + \
        [examples[2].solution]
    want = [s.values for s in alone.score(problems, solutions)]
    for scorer in (shared, inc):
        assert [s.values for s in scorer.score(problems, solutions)] == [pytest.approx(w, abs=1e-4) for w in want]
    # what each group of one question's solutions shares is read once, the rest in full (the third is alone)
    encoded = [alone.encode(p, s.steps) for p, s in zip(problems, solutions)]
    saved = 0
    for group in (encoded[: len(candidates)], encoded[len(candidates): -1]):
        k = 0
        while all(len(e.input_ids) > k + 1 and e.input_ids[k] == group[0].input_ids[k] for e in group):
            k += 1
        assert k >= len(alone.encode(first, ()).input_ids) - 1  # at least the question
        saved += (len(group) - 1) * k
    assert alone.report["tokens"] == sum(len(e.input_ids) for e in encoded)
    assert shared.report["tokens"] == inc.report["tokens"] == alone.report["tokens"] - saved
    assert saved > alone.report["tokens"] / 4  # 229 of 695 tokens with the prmkit spec


# ----------------------------------------------------------------------------- bounded memory


def _cached_bytes(scorer):
    """Bytes the scorer's cached prefix states hold, from the storages of their real tensors (a view of a
    larger tensor counts that whole tensor: it keeps it alive), each storage once."""
    storages = {}
    for state, *_ in scorer._states.values():
        pairs = list(state.past or []) + list(state.ref_past or [])
        for t in [x for pair in pairs for x in pair] + [state.last_logits, state.ref_last_logits, state.q]:
            if isinstance(t, torch.Tensor):
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def _grow_with_siblings(examples):
    """The calls a beam search makes: at every depth, the real next step and two wrong siblings, in one call."""
    for ex in examples:
        steps = ex.solution.steps
        for k in range(1, len(steps) + 1):
            siblings = (steps[k - 1], "1 + 1 = 2", f"{k} * 3 = {3 * k}")
            yield ex.problem, [Solution(steps[: k - 1] + (s,)) for s in siblings]


@pytest.mark.parametrize("spec", ["prmkit", "prmkit-implicit"])
def test_cached_bytes_stay_within_the_byte_budget_after_every_call(spec):
    probe = _scorers(spec, max_cache_bytes=10**12)[1]
    ex = world_examples(1, source="injected", seed=4)[0]
    probe.score([ex.problem], [Solution(ex.solution.steps[:2])])
    budget = int(2.5 * _cached_bytes(probe))  # room for about two states of two steps
    inc = _scorers(spec, max_cache_bytes=budget)[1]
    kept = 0
    for problem, batch in _grow_with_siblings(world_examples(3, source="injected", seed=4)):
        inc.score([problem] * len(batch), batch)
        assert _cached_bytes(inc) <= budget
        assert _cached_bytes(inc) == inc.cached_bytes  # what the scorer counts is what the tensors hold
        kept = max(kept, len(inc._states))
    assert kept >= 2  # the budget was used, not merely respected by caching nothing


@pytest.mark.parametrize("spec", ["prmkit", "prmkit-implicit"])
def test_scores_under_a_tiny_byte_budget_equal_an_unbounded_cache_and_full_rescoring(spec):
    full, unbounded = _scorers(spec, max_cache_bytes=10**12)
    probe = _scorers(spec, max_cache_bytes=10**12)[1]
    ex = world_examples(1, source="injected", seed=4)[0]
    probe.score([ex.problem], [Solution(ex.solution.steps[:1])])
    tiny = _scorers(spec, max_cache_bytes=int(3.5 * _cached_bytes(probe)))[1]  # a few states: evicts as they grow
    for problem, batch in _grow_with_siblings(world_examples(3, source="injected", seed=4)):
        want = [s.values for s in full.score([problem] * len(batch), batch)]
        for scorer in (unbounded, tiny):
            got = [s.values for s in scorer.score([problem] * len(batch), batch)]
            assert got == [pytest.approx(w, abs=1e-4) for w in want]
    # the tiny cache evicted, still spared some reading, and read more than the unbounded one
    assert tiny.report["prefix states evicted"] > 0
    assert unbounded.report["tokens"] < tiny.report["tokens"] < full.report["tokens"]


class _ArithmeticGenerator:
    """A scripted policy writing world-like steps (``<a> + <k> = <a + k>``, k the sample index) and, after
    three steps, the answer: search runs on the real PRM without sampling."""

    def generate(self, prompts, *, n=1, stop=None, max_tokens=256, temperature=1.0, seed=None):
        out = []
        for prompt in prompts:
            steps = [s for s in prompt.split("\n")[1:] if s]
            last = int(steps[-1].split("= ")[-1]) if steps else 5
            out.append([f"{last} + {k} = {last + k}" if len(steps) < 3 else f"The answer is {last}." for k in range(n)])
        return out


def test_a_problems_prefix_states_are_released_when_its_search_ends():
    from prmkit.search.primitives import StepPolicy
    from prmkit.search.strategies import beam_search, best_of_n, mcts

    full, inc = _scorers("prmkit-implicit")
    policy = StepPolicy(_ArithmeticGenerator(), max_steps=6)
    first, second = (ex.problem for ex in world_examples(2, source="injected", seed=4))
    for search in (beam_search, best_of_n, mcts):
        result = search(first, policy, inc, 8)
        assert len(inc._states) == 0 and _cached_bytes(inc) == 0, search.__name__
        if search is beam_search:  # while it ran, it read on top of cached prefixes
            assert result.compute.prm_tokens < search(first, policy, full, 8).compute.prm_tokens / 2
    inc.score([second], [Solution(("8 + 2 = 10",))])  # another problem's states are not touched
    beam_search(first, policy, inc, 8)
    assert {question for question, _ in inc._states} == {second.question}


def test_the_default_budget_is_a_quarter_of_free_cuda_memory_and_1_gib_on_cpu(monkeypatch):
    from prmkit.backends.hf_transformers import default_cache_bytes

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (12 * 2**30, 140 * 2**30))
    assert default_cache_bytes(torch.device("cuda")) == 3 * 2**30
    assert default_cache_bytes(torch.device("cpu")) == 2**30 == _scorers("prmkit")[1].max_cache_bytes


@pytest.mark.gpu
def test_on_cuda_the_default_budget_comes_from_free_memory_and_scores_hold():
    cpu = _scorers("prmkit-implicit")[0]
    model, ref = cpu.model.cuda(), cpu.reference.cuda()
    full = HFStepScorer(model, cpu.tokenizer, cpu.spec, reference=ref)
    inc = HFStepScorer(model, cpu.tokenizer, cpu.spec, reference=ref, incremental=True)
    assert 0 < inc.max_cache_bytes <= torch.cuda.mem_get_info()[0] // 4 + 2**20
    for problem, batch in _grow_with_siblings(world_examples(2, source="injected", seed=4)):
        want = [s.values for s in full.score([problem] * len(batch), batch)]
        got = [s.values for s in inc.score([problem] * len(batch), batch)]
        assert got == [pytest.approx(w, abs=1e-3) for w in want]
        assert _cached_bytes(inc) == inc.cached_bytes <= inc.max_cache_bytes
