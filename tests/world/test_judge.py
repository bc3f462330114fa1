"""The world judge: exact critique targets, its training loop, and the bundled judge as a real (imperfect) judge."""

import json

import pytest

from prmkit.annotate.judge import PROMPTS, judge_labels, parse_verdict
from prmkit.world import check, generate
from prmkit.world.judge import (BUNDLED_JUDGE, PROMPT, JudgeTrainConfig, critique_of, evaluate_judge, judge_examples,
                                train_judge)


def test_critique_targets_name_the_exact_first_error():
    items = judge_examples(generate(60, seed=2), error_rate=0.6, seed=2)
    assert 0.4 < sum(fe is not None for _, _, fe in items) / len(items) < 0.8
    for p, steps, fe in items:
        assert fe == check(p, steps).first_error
        critique = critique_of(p, steps, fe)
        lines = critique.splitlines()
        assert len(lines) == (len(steps) if fe is None else fe + 1) + 1
        assert lines[0].startswith("Step 0: ") and lines[-2].endswith("wrong" if fe is not None else "ok")
        assert parse_verdict(PROMPT, critique, len(steps)) == (-1 if fe is None else fe)


def test_a_tiny_judge_trains_saves_and_loads(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = JudgeTrainConfig(train_problems=64, max_steps=4, eval_every=2, eval_every_near=2, eval_problems=4,
                           hidden=32, layers=1, heads=2, batch_size=8, target_accuracy=None, init_from_policy=False)
    metrics = train_judge(tmp_path, cfg, log=lambda s: None)
    assert metrics["step"] == 4 and 0 <= metrics["accuracy"] <= 1
    meta = json.loads((tmp_path / "prmkit_judge.json").read_text())
    assert meta["prompt"] == "world" and [h["step"] for h in meta["history"]] == [2, 4]
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = tok("Critique:\nStep 0: 2 + 3 = 5 ok\n\\boxed{-1}", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert AutoModelForCausalLM.from_pretrained(tmp_path).config.model_type == "llama"


def test_the_judge_starts_from_the_policy_weights():
    import torch

    from prmkit.world.judge import _from_policy, judge_tokenizer
    from prmkit.world.policy import _model, load_policy

    tok = judge_tokenizer()
    judge = _model(tok, JudgeTrainConfig())
    _from_policy(tok)(judge)
    policy, policy_tok = load_policy()
    w = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(judge.state_dict()[w], policy.state_dict()[w])
    emb_j, emb_p = judge.get_input_embeddings().weight, policy.get_input_embeddings().weight
    for token in (" apples", "7", "\n"):
        assert torch.equal(emb_j[tok.convert_tokens_to_ids(token)], emb_p[policy_tok.convert_tokens_to_ids(token)])


@pytest.fixture(scope="module")
def bundled_judge():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(BUNDLED_JUDGE), AutoTokenizer.from_pretrained(BUNDLED_JUDGE)


def test_bundled_judge_finds_first_errors_on_held_out_solutions(bundled_judge):
    size = sum(f.stat().st_size for f in BUNDLED_JUDGE.iterdir())
    assert size <= 10 * 2**20, f"bundled judge is {size / 2**20:.1f} MB"
    assert json.loads((BUNDLED_JUDGE / "prmkit_judge.json").read_text())["prompt"] == "world"
    items = judge_examples(generate(120, seed=4242, prefix="t"), error_rate=0.5, seed=4242)
    r = evaluate_judge(*bundled_judge, items)
    trivial = sum(fe is None for _, _, fe in items) / len(items)  # a judge that always answers "no error"
    # measured 0.625 against 0.483 for the trivial judge: a real but weak judge
    assert r["unparseable"] <= 0.05 and trivial + 0.08 <= r["accuracy"] <= 0.9, (r, trivial)


def test_bundled_judge_labels_policy_samples_through_the_annotation_labeler(bundled_judge):
    from prmkit.backends.hf_generate import HFGenerator
    from prmkit.world.export import world_examples

    examples = world_examples(16, seed=9)
    results = judge_labels(examples, HFGenerator(*bundled_judge), prompt="world", n=3, temperature=0.7,
                           max_tokens=160, seed=0)
    assert sum(r["info"]["unparseable"] for r in results) <= 3
    assert all(len(r["labels"]) == len(ex.solution.steps) for r, ex in zip(results, examples))
    assert all(len(r["info"]["verdicts"]) == 3 for r in results)
    # it clears right solutions; the policy's own errors (mostly wrong operands) it mostly misses (docs/world.md)
    clean = [r["info"]["verdict"] for r, ex in zip(results, examples) if ex.first_error is None]
    assert len(clean) >= 6 and clean.count(-1) >= 0.8 * len(clean)
    assert PROMPTS["world"].template.endswith("Critique:\n")
