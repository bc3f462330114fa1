"""The spec-driven HF scorer on tiny random models: one pass equals per-prefix, for every head."""

import dataclasses
import math

import pytest
import torch

from prmkit.backends import load_scorer
from prmkit.backends.families import FAMILIES, PRMSpec, get_spec, math_shepherd, qwen2_5_math_prm, rlhflow_llama31_8b, skywork_o1
from prmkit.backends.hf_transformers import HFStepScorer
from prmkit.backends.protocols import StepScorer
from prmkit.types import Problem, Solution

PROBLEMS = [
    Problem("p1", "Janet has 16 eggs. She eats 3 and sells the rest for $2 each. How much does she make?"),
    Problem("p2", "What is 7 + 13?"),
    Problem("p3", "A farm has 12 apples and 7 pears. How many fruits?"),
]
SOLUTIONS = [
    Solution(["She has 16 - 3 = 13 eggs left.", "She makes 13 * 2 = 26 dollars.", "The answer is 26."]),
    Solution(["7 + 13 = 20.\nSo the answer is 20."]),
    Solution(["12 + 7 = 19.", "Wait, check: 12 + 7 = 19 again.", "So 19 fruits.", "The answer is 19.", "Done: 19."]),
]


def _model(kind, tokenizer, factory, **config):
    from transformers import AutoModelForCausalLM, AutoModelForTokenClassification

    torch.manual_seed(0)
    auto = AutoModelForCausalLM if kind == "lm" else AutoModelForTokenClassification
    model_type = config.pop("model_type", "qwen2")
    return auto.from_config(factory(model_type, len(tokenizer), **config)).eval()


def _assert_one_pass_equals_per_prefix(scorer):
    one = scorer.score(PROBLEMS, SOLUTIONS)
    ref = scorer.score_per_prefix(PROBLEMS, SOLUTIONS)
    assert [len(s) for s in one] == [3, 1, 5]
    for a, b in zip(one, ref):
        assert max(abs(x - y) for x, y in zip(a.values, b.values)) < 1e-5
    values = [v for s in one for v in s.values]
    assert all(0.0 <= v <= 1.0 for v in values) and len(set(values)) > 3  # real, varying scores
    return one


def test_qwen_prm_spec_one_pass_equals_per_prefix(tiny_tokenizer, tiny_config_factory):
    model = _model("cls", tiny_tokenizer, tiny_config_factory, num_labels=2)
    scorer = HFStepScorer(model, tiny_tokenizer, qwen2_5_math_prm())
    one = _assert_one_pass_equals_per_prefix(scorer)
    # the rendering is the model card's: chat template, steps joined and ended by <extra_0>
    text, _ = scorer.render(PROBLEMS[0], SOLUTIONS[0].steps)
    card = tiny_tokenizer.apply_chat_template([
        {"role": "system", "content": qwen2_5_math_prm().system_prompt},
        {"role": "user", "content": PROBLEMS[0].question},
        {"role": "assistant", "content": "<extra_0>".join(SOLUTIONS[0].steps) + "<extra_0>"}], tokenize=False)
    assert text == card
    # ... and the scores are the card's: softmax over the 2 classes at the <extra_0> tokens, class 1
    ids = tiny_tokenizer(card, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probs = model(input_ids=ids).logits[0].softmax(-1)[:, 1]
    card_scores = probs[ids[0] == tiny_tokenizer.convert_tokens_to_ids("<extra_0>")].tolist()
    assert max(abs(a - b) for a, b in zip(one[0].values, card_scores)) < 1e-5


def test_math_shepherd_spec_one_pass_equals_per_prefix(tiny_tokenizer, tiny_config_factory):
    model = _model("lm", tiny_tokenizer, tiny_config_factory, model_type="mistral")
    scorer = HFStepScorer(model, tiny_tokenizer, math_shepherd())
    one = _assert_one_pass_equals_per_prefix(scorer)
    text, _ = scorer.render(PROBLEMS[1], ["7 + 13 = 20.", "The answer is: 20"])
    assert text == "What is 7 + 13? Step 1: 7 + 13 = 20. ки\nStep 2: The answer is: 20 ки\n"
    # the model card's reading: full LM logits at the ки tokens, softmax over ["+", "-"], take "+"
    ids = tiny_tokenizer(text, return_tensors="pt")["input_ids"]
    plus, minus = tiny_tokenizer.convert_tokens_to_ids(["+", "-"])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0][:, [plus, minus]]
    card = logits.softmax(-1)[:, 0][ids[0] == tiny_tokenizer.convert_tokens_to_ids("ки")].tolist()
    got = scorer.score([PROBLEMS[1]], [Solution(["7 + 13 = 20.", "The answer is: 20"])])[0].values
    assert max(abs(a - b) for a, b in zip(got, card)) < 1e-5
    assert one[1].source == "math-shepherd"


def test_value_head_and_chat_turns(tiny_tokenizer, tiny_config_factory):
    value = _model("cls", tiny_tokenizer, tiny_config_factory, num_labels=1)
    _assert_one_pass_equals_per_prefix(HFStepScorer(value, tiny_tokenizer, skywork_o1()))
    lm = _model("lm", tiny_tokenizer, tiny_config_factory, model_type="llama")
    turns = HFStepScorer(lm, tiny_tokenizer, rlhflow_llama31_8b())
    _assert_one_pass_equals_per_prefix(turns)
    text, spans = turns.render(PROBLEMS[1], ["a", "b"])
    assert text == ("<|im_start|>user\nWhat is 7 + 13? a<|im_end|>\n<|im_start|>assistant\n+<|im_end|>\n"
                    "<|im_start|>user\nb<|im_end|>\n<|im_start|>assistant\n+<|im_end|>\n")
    assert [text[a:b] for a, b in spans] == ["+", "+"]


def test_batching_does_not_change_scores(tiny_tokenizer, tiny_config_factory):
    model = _model("cls", tiny_tokenizer, tiny_config_factory, num_labels=2)
    big = HFStepScorer(model, tiny_tokenizer, qwen2_5_math_prm(), max_batch_tokens=100_000).score(PROBLEMS, SOLUTIONS)
    small = HFStepScorer(model, tiny_tokenizer, qwen2_5_math_prm(), max_batch_tokens=64).score(PROBLEMS, SOLUTIONS)
    for a, b in zip(big, small):
        assert all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a.values, b.values))


def test_overflow_policy_reports_unscored_steps(tiny_tokenizer, tiny_config_factory):
    model = _model("cls", tiny_tokenizer, tiny_config_factory, num_labels=2)
    scorer = HFStepScorer(model, tiny_tokenizer, qwen2_5_math_prm(), max_length=60)
    full = HFStepScorer(model, tiny_tokenizer, qwen2_5_math_prm()).score(PROBLEMS, SOLUTIONS)
    cut = scorer.score(PROBLEMS, SOLUTIONS)
    n_none = sum(v is None for s in cut for v in s.values)
    assert n_none > 0 and scorer.report["unscored steps"] == n_none
    assert scorer.report["truncated solutions"] >= 1
    for a, b in zip(cut, full):  # steps inside the limit keep their exact scores
        assert all(x is None or abs(x - y) < 1e-5 for x, y in zip(a.values, b.values))
    strict = HFStepScorer(model, tiny_tokenizer, qwen2_5_math_prm(), max_length=60, overflow="error")
    with pytest.raises(ValueError, match="max_length 60"):
        strict.score(PROBLEMS, SOLUTIONS)


def test_token_ids_come_from_strings_and_are_checked(tiny_tokenizer, tiny_config_factory):
    model = _model("lm", tiny_tokenizer, tiny_config_factory, model_type="mistral")
    bad = dataclasses.replace(math_shepherd(), label_words=("correct!", "-"))
    with pytest.raises(ValueError, match=r"'correct!' is \d+ tokens"):
        HFStepScorer(model, tiny_tokenizer, bad)
    # a tag " 1" followed by "3" is read inside the token " 13": the score would see the next step
    merged = dataclasses.replace(math_shepherd(), step_tag=" 1", step_separator="3\n")
    with pytest.raises(ValueError, match="does not tokenize as one token of its own"):
        HFStepScorer(model, tiny_tokenizer, merged).score(PROBLEMS[:1], [Solution(["x", "y"])])


def test_saved_model_carries_its_spec(tiny_tokenizer, tiny_config_factory, tmp_path):
    model = _model("cls", tiny_tokenizer, tiny_config_factory, num_labels=2)
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    spec = PRMSpec(name="mine", head="token_cls", step_tag="<extra_0>", step_separator="\n")
    spec.save(tmp_path)
    assert get_spec(None, str(tmp_path)) == spec
    scorer = load_scorer(str(tmp_path), device="cpu")
    assert isinstance(scorer, StepScorer) and scorer.spec == spec
    # transformers 5 reloads a tokenizer saved beside a qwen2 config as Qwen2Tokenizer (digit-splitting
    # pre-tokenizer), so compare against the tokenizer as loaded from the folder
    from transformers import AutoTokenizer

    direct = HFStepScorer(model, AutoTokenizer.from_pretrained(tmp_path), spec).score(PROBLEMS, SOLUTIONS)
    loaded = scorer.score(PROBLEMS, SOLUTIONS)
    assert all(abs(x - y) < 1e-6 for a, b in zip(direct, loaded) for x, y in zip(a.values, b.values))


def test_every_family_builds_and_hub_ids_resolve():
    from prmkit.registry import resolve

    specs = {name: resolve(name, FAMILIES)() for name in FAMILIES}
    assert specs["math-shepherd"].label_words == ("+", "-") and specs["qwen2.5-math-prm-7b"].step_tag == "<extra_0>"
    assert get_spec(None, "Qwen/Qwen2.5-Math-PRM-7B").name == "qwen2.5-math-prm-7b"
    with pytest.raises(ValueError, match="no PRM spec"):
        get_spec(None, "someone/unknown-model")
