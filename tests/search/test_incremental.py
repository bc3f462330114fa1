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
        model = transformers.AutoModelForTokenClassification.from_pretrained(str(BUNDLED_POLICY), num_labels=2)
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
