"""Generators on a tiny random Llama: shapes, seeds, greedy batched == one at a time, stop strings, vLLM guard."""

import sys
import types

import pytest
import torch

from prmkit.backends import GENERATORS, Generator, load_generator
from prmkit.backends.hf_generate import HFGenerator, _StopInCompletion
from prmkit.backends.openai_http import OpenAIGenerator, cut_at_stop

# different lengths, so batches are left-padded
PROMPTS = ["Janet has 16 eggs. She eats 3.", "What is 7 + 13? Step 1:", "A", "Step 2: 12 + 7 = 19. So the total is"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A 64-wide model gains nothing from threads, and on a busy 2-core machine spinning OpenMP threads
    made these tests 10x slower (and the benchmark 25x)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gen(tiny_tokenizer, tiny_config_factory):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tiny_config_factory("llama", len(tiny_tokenizer), eos_token_id=tiny_tokenizer.eos_token_id,
                                 bos_token_id=tiny_tokenizer.eos_token_id)
    return HFGenerator(AutoModelForCausalLM.from_config(config).eval(), tiny_tokenizer, device="cpu")


def _ascii_pair(text: str) -> str:
    """The first two printable ASCII characters in a row after the first character (a stop that surely occurs)."""
    for i in range(1, len(text) - 1):
        if all(c.isascii() and c.isprintable() for c in text[i:i + 2]):
            return text[i:i + 2]
    raise AssertionError(f"no printable pair in {text!r}")


def test_is_a_generator_and_registered(gen):
    assert isinstance(gen, Generator)
    assert GENERATORS["hf"].endswith(":HFGenerator") and set(GENERATORS) >= {"hf", "openai", "vllm"}


def test_shapes(gen):
    out = gen.generate(PROMPTS, n=3, max_tokens=8, seed=0)
    assert len(out) == len(PROMPTS) and all(len(row) == 3 and all(isinstance(t, str) for t in row) for row in out)
    assert [len(r) for r in gen.generate(PROMPTS[:2], max_tokens=4, seed=0)] == [1, 1]
    assert gen.generate([], n=2) == []
    assert gen.generate(PROMPTS[:1], n=2, max_tokens=0) == [["", ""]]
    with pytest.raises(TypeError):
        gen.generate("one string")


def test_completions_leave_out_the_prompt(gen):
    full = gen.generate(PROMPTS, max_tokens=12, temperature=0)
    ids = gen.tokenizer(PROMPTS[1], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        seq = gen.model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, pad_token_id=gen.pad_id)
    assert full[1][0] == gen.tokenizer.decode(seq[0, ids.shape[1]:], skip_special_tokens=True)


def test_same_seed_same_samples_other_seed_other_samples(gen):
    a = gen.generate(PROMPTS, n=4, max_tokens=12, seed=7)
    assert gen.generate(PROMPTS, n=4, max_tokens=12, seed=7) == a
    assert gen.generate(PROMPTS, n=4, max_tokens=12, seed=8) != a
    assert len({t for row in a for t in row}) > len(PROMPTS)  # the n samples of a prompt differ


def test_a_seed_per_prompt_draws_what_each_prompt_draws_alone(gen):
    """``seed=[...]``: prompts of different lengths batched together (and a prompt's samples split across batches
    where n exceeds the batch size) give each prompt the samples of a call of it alone with its seed."""
    small = HFGenerator(gen.model, gen.tokenizer, device="cpu", max_batch_size=4)
    prompts, seeds = ["hello", "a much longer prompt than that", "mid size"], [5, 7, 11]
    for g, n in ((gen, 3), (small, 3), (small, 6)):
        together = g.complete(prompts, n=n, max_tokens=8, temperature=1.0, seed=seeds, logprobs=True)
        for prompt, seed, row in zip(prompts, seeds, together):
            (alone,) = g.complete([prompt], n=n, max_tokens=8, temperature=1.0, seed=seed, logprobs=True)
            assert [c.text for c in row] == [c.text for c in alone]
            assert all(abs(a - b) < 1e-4 for c, d in zip(row, alone) for a, b in zip(c.logprobs, d.logprobs))
    assert len({t for row in together for t in (c.text for c in row)}) > 3  # the samples do differ
    assert gen.generate(prompts, n=2, max_tokens=8, seed=[1, 2, 3]) != gen.generate(prompts, n=2, max_tokens=8, seed=1)
    with pytest.raises(ValueError, match="seed: 2 seeds for 3 prompts"):
        gen.generate(prompts, seed=[1, 2])


def test_seeded_call_leaves_the_global_rng_alone(gen):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    gen.generate(PROMPTS[:2], n=2, max_tokens=4, seed=1)
    assert torch.equal(torch.rand(3), expected)


def test_greedy_is_deterministic_and_batched_equals_one_at_a_time(gen):
    batched = gen.generate(PROMPTS, n=2, max_tokens=24, temperature=0)
    assert all(row[0] == row[1] and row[0] for row in batched)
    single = [gen.generate([p], max_tokens=24, temperature=0)[0][0] for p in PROMPTS]
    assert [row[0] for row in batched] == single
    small = HFGenerator(gen.model, gen.tokenizer, max_batch_size=3)  # 8 rows in 3 calls of generate
    assert small.generate(PROMPTS, n=2, max_tokens=24, temperature=0) == batched


def test_stop_strings_cut_the_text_and_end_generation_early(gen):
    max_tokens = 40
    full = [row[0] for row in gen.generate(PROMPTS, max_tokens=max_tokens, temperature=0)]
    stop = [_ascii_pair(t) for t in full]
    calls = []
    hook = gen.model.register_forward_hook(lambda *args: calls.append(1))
    try:
        cut = [row[0] for row in gen.generate(PROMPTS, stop=stop, max_tokens=max_tokens, temperature=0)]
    finally:
        hook.remove()
    assert cut == [cut_at_stop(t, stop) for t in full]
    assert all(s not in t for t in cut for s in stop) and all(len(c) < len(f) for c, f in zip(cut, full))
    assert len(calls) < max_tokens // 2  # every row stopped within a few tokens, so the batch did too


def test_sampled_completions_do_not_contain_the_stop(gen):
    out = gen.generate(PROMPTS, n=4, stop=["4", " "], max_tokens=16, seed=3)
    assert all("4" not in t and " " not in t for row in out for t in row)


def test_stop_is_matched_in_the_completion_only(tiny_tokenizer):
    # the prompt ends in "\n": one generated "\n" must not count as the stop "\n\n" (transformers'
    # stop_strings would stop here, since it matches the end of the whole sequence)
    prompt = tiny_tokenizer("Step 1: 7 + 13 = 20.\n")["input_ids"]
    nl = tiny_tokenizer("\n", add_special_tokens=False)["input_ids"]
    word = tiny_tokenizer(" So", add_special_tokens=False)["input_ids"]
    crit = _StopInCompletion(tiny_tokenizer, ["\n\n"], torch.tensor([prompt, prompt]))

    def check(*rows):  # rows padded on the right, as generate pads finished rows (the pad is special)
        width = max(map(len, rows))
        return crit(torch.tensor([r + [tiny_tokenizer.pad_token_id] * (width - len(r)) for r in rows]), None).tolist()

    assert check(prompt + nl, prompt + nl + nl) == [False, True]
    assert check(prompt + nl + word, prompt + word + nl + nl) == [False, True]
    long = prompt + nl + word * 12  # past the decoding window
    assert check(long, long + nl + nl) == [False, True]


def test_completion_text_continues_the_prompt_exactly():
    """SentencePiece drops the leading space of a completion decoded alone (" She" -> "She"); the text
    returned must be what follows the prompt, so that prompt + completion is the decoded whole."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from prmkit.backends.hf_generate import decode_after

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    bpe.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    bpe.train_from_iterator(["Step 1: She has 13 eggs.", "Step 2: She sells 10 eggs."] * 20,
                            trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "</s>"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="</s>", unk_token="<unk>")
    prompt = tok("Step 1:")["input_ids"]
    whole = tok("Step 1: She has 13 eggs.")["input_ids"]
    assert whole[:len(prompt)] == prompt
    completion = whole[len(prompt):]
    assert tok.decode(completion) == "She has 13 eggs."  # the space is lost when decoded alone
    assert decode_after(tok, [prompt[-4:]], [completion]) == [" She has 13 eggs."]
    crit = _StopInCompletion(tok, [" She"], torch.tensor([prompt]))
    assert crit(torch.tensor([whole[:len(prompt) + 1]]), None).tolist() == [True]


def test_from_pretrained_and_load_generator(gen, tmp_path):
    gen.model.save_pretrained(tmp_path)
    gen.tokenizer.save_pretrained(tmp_path)
    loaded = HFGenerator.from_pretrained(str(tmp_path), device="cpu")
    again = load_generator(str(tmp_path), device="cpu", max_batch_size=2)
    assert isinstance(again, HFGenerator) and again.max_batch_size == 2
    expected = gen.generate(PROMPTS, max_tokens=10, temperature=0)
    assert loaded.generate(PROMPTS, max_tokens=10, temperature=0) == expected
    assert again.generate(PROMPTS, max_tokens=10, temperature=0) == expected


def test_load_generator_by_url_and_import_path():
    http = load_generator("http://127.0.0.1:9/", model="policy", mode="chat")
    assert isinstance(http, OpenAIGenerator) and http.url == "http://127.0.0.1:9/v1/chat/completions"
    assert isinstance(load_generator("prmkit.backends.openai_http:OpenAIGenerator",
                                     base_url="http://127.0.0.1:9/v1", model="m"), OpenAIGenerator)


# ----------------------------------------------------------------------------- vLLM


def test_vllm_guard_names_the_install_command():
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here; the guard cannot fire")
    from prmkit.backends.vllm_engine import VLLMGenerator

    with pytest.raises(ImportError, match=r"pip install vllm"):
        VLLMGenerator("some/model")
    with pytest.raises(ImportError, match=r"pip install vllm"):
        load_generator("vllm", model="some/model")


def test_vllm_generator_against_a_fake_engine(monkeypatch):
    """The protocol mapping, with a stand-in ``vllm`` module: SamplingParams get the call's arguments,
    outputs come back per prompt in choice order, and the stop string is cut."""
    seen = {}

    class SamplingParams:
        def __init__(self, **kw):
            seen["params"], self.kw = kw, kw

    class LLM:
        def __init__(self, model, dtype, **kw):
            seen["engine"] = (model, dtype, kw)

        def generate(self, prompts, params, use_tqdm=True):
            seen["given"] = params
            n = seen["params"]["n"]
            out = lambda i, p: types.SimpleNamespace(index=i, text=f"{p}/{i}\nnext", token_ids=[1, 2],  # noqa: E731
                                                     finish_reason="stop", stop_reason="\n", logprobs=None)
            return [types.SimpleNamespace(outputs=[out(i, p) for i in reversed(range(n))]) for p in prompts]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    from prmkit.backends.vllm_engine import VLLMGenerator

    gen = VLLMGenerator("m", gpu_memory_utilization=0.5)
    assert isinstance(gen, Generator) and seen["engine"] == ("m", "auto", {"gpu_memory_utilization": 0.5})
    out = gen.generate(["a", "b"], n=2, stop=["\n"], max_tokens=5, temperature=0.7, seed=3)
    assert out == [["a/0", "a/1"], ["b/0", "b/1"]]
    assert seen["params"] == dict(n=2, temperature=0.7, max_tokens=5, stop=["\n"], seed=3)
    assert gen.generate(["a", "b"], n=2, stop=["\n"], seed=[4, 9]) == out  # a seed per prompt: one SamplingParams each
    assert [p.kw["seed"] for p in seen["given"]] == [4, 9]


def test_vllm_complete_maps_finish_reasons_and_logprobs_from_a_fake_engine(monkeypatch):
    """vLLM's per-token logprobs (token id -> Logprob with decoded_token) become top_logprobs by token text, with
    each token's offset in the text; tokens past the stop cut are dropped; "length" is a truncation."""
    seen = {}
    lp = lambda token, logprob: types.SimpleNamespace(decoded_token=token, logprob=logprob)  # noqa: E731

    class SamplingParams:
        def __init__(self, **kw):
            seen["params"] = kw

    class LLM:
        def __init__(self, model, dtype, **kw):
            pass

        def generate(self, prompts, params, use_tqdm=True):
            steps = [{5: lp(" ok", -0.1), 6: lp(" wrong", -2.4)}, {7: lp("!", -0.5)}, {8: lp("\n", -0.2)}]
            done = types.SimpleNamespace(index=0, text=" ok!", token_ids=[5, 7, 8], finish_reason="stop",
                                         stop_reason=None, logprobs=steps)
            cut = types.SimpleNamespace(index=0, text=" ok", token_ids=[5], finish_reason="length", stop_reason=None,
                                        logprobs=steps[:1])
            return [types.SimpleNamespace(outputs=[done]), types.SimpleNamespace(outputs=[cut])]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    from prmkit.backends.vllm_engine import VLLMGenerator

    (done,), (cut,) = VLLMGenerator("m").complete(["a", "b"], stop=["!"], max_tokens=3, top_logprobs=2)
    assert seen["params"]["logprobs"] == 2
    assert done.text == " ok" and done.finish == "stop" and done.tokens == 3
    assert done.top_logprobs == ({" ok": -0.1, " wrong": -2.4},) and done.offsets == (0,)  # "!" and "\n" are cut
    assert cut.finish == "length" and cut.top_logprobs == ({" ok": -0.1, " wrong": -2.4},)
    (done,), _ = VLLMGenerator("m").complete(["a", "b"], stop=["!"], max_tokens=3, logprobs=True)
    assert seen["params"]["logprobs"] == 0  # vLLM then reports the sampled token only
    assert done.logprobs == (-0.1,) and done.top_logprobs is None and done.offsets == (0,)


def test_sampled_token_logprobs_equal_a_teacher_forced_pass():
    """``complete(logprobs=True)``: each kept token's log-probability under the raw model (temperature 1, not the
    0.9 sampled at), as a forward pass over prompt + completion gives it, for n=3 sampled rows of a left-padded
    batch cut at a stop string (the bundled policy: its tokenizer re-reads a completion as the tokens it was
    written in). The stop token and anything after it are dropped, as for top_logprobs."""
    gen = load_generator("bundled-policy")
    prompts = ["Tom has 3 apples and buys 4 more. How many apples?\n", "A box holds 12 pens; 5 are taken. How many?\n"]
    rows = gen.complete(prompts, n=3, stop=["\n"], max_tokens=40, temperature=0.9, seed=5, logprobs=True)
    checked = 0
    for prompt, row in zip(prompts, rows):
        ids = gen.tokenizer(prompt)["input_ids"]
        for c in row:
            full = gen.tokenizer(prompt + c.text)["input_ids"]
            assert full[: len(ids)] == ids and len(c.logprobs) == len(full) - len(ids) == len(c.offsets)
            assert c.stop == "\n" and len(c.logprobs) == c.tokens - 1  # the "\n" token is not kept
            with torch.no_grad():
                logp = gen.model(torch.tensor([full])).logits[0].float().log_softmax(-1)
            want = [logp[len(ids) + j - 1, full[len(ids) + j]].item() for j in range(len(c.logprobs))]
            assert list(c.logprobs) == pytest.approx(want, abs=1e-4)
            checked += len(want)
    assert checked > 20 and all(c.top_logprobs is None for row in rows for c in row)
    assert gen.generate(prompts, n=3, stop=["\n"], max_tokens=40, temperature=0.9, seed=5) == \
        [[c.text for c in row] for row in rows]  # recording them draws no random numbers
    # greedy, with top_logprobs too: the chosen token is the likeliest, so its log-prob is the top one
    (c,), _ = gen.complete(prompts, stop=["\n"], max_tokens=40, temperature=0, top_logprobs=2, logprobs=True)
    assert len(c.logprobs) == len(c.top_logprobs) == len(c.offsets) > 2
    assert list(c.logprobs) == pytest.approx([max(t.values()) for t in c.top_logprobs], abs=1e-6)


def test_sampler_draws_from_softmax_of_logits_over_temperature():
    from prmkit.backends.hf_generate import _InverseCDFSample

    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, float("-inf")])
    rows = 40000
    for t in (1.0, 0.5, 2.0):
        gen = torch.Generator().manual_seed(0)
        out = _InverseCDFSample(t, gen)(None, logits.repeat(rows, 1))
        assert (out.max(-1).values == 0).all() and ((out == 0).sum(-1) == 1).all()  # one-hot for the argmax
        freq = torch.bincount(out.argmax(-1), minlength=5).float() / rows
        expected = (logits / t).softmax(-1)
        assert freq[4] == 0 and (freq - expected).abs().max() < 0.01, (t, freq, expected)
