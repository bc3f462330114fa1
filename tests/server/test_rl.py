"""RL glue: credit assignment by hand, trainer signatures, and a real TRL GRPO run rewarded through `prmkit serve`."""

import re

import pytest

from prmkit.rl import clip, delta, group_advantages, min_form, sum_form, trl_reward_function, verl_compute_score
from prmkit.types import StepScores


def test_min_form_and_sum_form_give_opposite_advantages_on_a_hand_made_group():
    # A: two confident steps then a bad one; B: three middling steps
    a, b = [0.9, 0.9, 0.1], [0.5, 0.5, 0.5]
    assert sum_form(a) == [1.9, 1.0, 0.1] and sum_form(b) == [1.5, 1.0, 0.5]
    assert min_form(a) == [0.1, 0.1, 0.1] and min_form(b) == [0.5, 0.5, 0.5]
    # the advantage of each rollout's first step within the group
    assert group_advantages([sum_form(a)[0], sum_form(b)[0]]) == [0.2, -0.2]  # summation prefers A
    assert group_advantages([min_form(a)[0], min_form(b)[0]]) == [-0.2, 0.2]  # min-form prefers B
    assert clip(a, 0.5) == [0.0, 0.0, -0.4] and delta(a) == [0.0, 0.8, 0.1]


class LengthScorer:
    """Step score = 1 / (1 + the step's length): short steps look good (enough to check the plumbing)."""

    def score(self, problems, solutions):
        return [StepScores(tuple(1 / (1 + len(s)) for s in sol.steps)) for sol in solutions]


def test_trl_and_verl_signatures():
    reward = trl_reward_function(LengthScorer(), credit="min", name="prm")
    assert reward.__name__ == "prm"
    got = reward(["Q\n", [{"role": "user", "content": "Q"}]], ["ab\nabcd", [{"role": "assistant", "content": "a"}]])
    assert got == pytest.approx([1 / 5, 1 / 2])
    score = verl_compute_score(LengthScorer())("world", "ab\nabcd", "6", extra_info={"question": "Q"})
    assert score["score"] == pytest.approx(0.2) and score["step_rewards"] == pytest.approx([1 / 3, 1 / 5])


class TruncatingScorer:
    """Scores only the steps that fit in ``room`` characters, as a PRM past its max_length does (the rest None)."""

    def __init__(self, room):
        self.room = room

    def score(self, problems, solutions):
        out = []
        for sol in solutions:
            ends = [sum(len(s) for s in sol.steps[: k + 1]) for k in range(len(sol.steps))]
            out.append(StepScores(tuple(1 / (1 + len(s)) if end <= self.room else None for s, end in zip(sol.steps, ends))))
        return out


def test_a_step_the_prm_did_not_score_is_no_reward_not_zero():
    from prmkit.rl import dense_rewards

    # "ab" fits, "abcd" does not: the reward is the scored step's, not min(1/3, 0)
    assert trl_reward_function(TruncatingScorer(3))(["Q"], ["ab\nabcd"]) == [pytest.approx(1 / 3)]
    assert trl_reward_function(TruncatingScorer(0))(["Q", "Q"], ["ab\nabcd", "a"]) == [None, None]  # TRL: no reward
    # credit runs over the scored steps, in their places
    assert trl_reward_function(TruncatingScorer(3), credit="sum", aggregate_how="last")(["Q"], ["a\nab\nabcd"]) == \
        [pytest.approx(1 / 3)]
    verl = verl_compute_score(TruncatingScorer(3), credit="sum")("world", "ab\nabcd", "6", extra_info={"question": "Q"})
    assert verl["score"] == pytest.approx(1 / 3) and verl["step_rewards"] == [pytest.approx(1 / 3), None]
    assert verl["scored_steps"] == 1
    none = verl_compute_score(TruncatingScorer(0))("world", "ab\nabcd", "6", extra_info={"question": "Q"})
    assert none == {"score": 0.0, "step_rewards": [None, None], "scored_steps": 0}
    assert dense_rewards([1, 4], verl["step_rewards"], 6).tolist() == pytest.approx([0, 1 / 3, 0, 0, 0, 0])


def test_grpo_run_rewarded_by_a_prmkit_prm_through_the_server(tmp_path, start_server):
    import datasets
    import httpx
    import transformers
    from trl import GRPOConfig, GRPOTrainer

    from prmkit.backends.prm_http import PRMServerScorer
    from prmkit.data import write
    from prmkit.pipelines.train import TrainConfig, run
    from prmkit.world.export import world_examples
    from prmkit.world.policy import BUNDLED_POLICY

    write(world_examples(24, seed=5), tmp_path / "train.jsonl", "prmkit")
    run(TrainConfig(model="bundled-policy", data=str(tmp_path / "train.jsonl"), out=str(tmp_path / "prm"),
                    spec="prmkit-implicit", epochs=1, lr=3e-4, beta=0.5), log=lambda s: None)
    proc, url = start_server("--model", str(tmp_path / "prm"), env={"PRMKIT_TOKEN": "t0k"})
    try:
        prompts = [e.problem.question + "\n" for e in world_examples(4, source="injected", seed=3)]
        tok = transformers.AutoTokenizer.from_pretrained(str(BUNDLED_POLICY))
        args = GRPOConfig(output_dir=str(tmp_path / "grpo"), per_device_train_batch_size=4, num_generations=4,
                          max_completion_length=40, max_steps=2, use_cpu=True, bf16=False, report_to=[],
                          logging_steps=1, save_strategy="no", seed=0)
        trainer = GRPOTrainer(model=str(BUNDLED_POLICY), args=args, processing_class=tok,
                              reward_funcs=trl_reward_function(PRMServerScorer(url, token="t0k"), credit="min"),
                              train_dataset=datasets.Dataset.from_list([{"prompt": p} for p in prompts]))
        trainer.train()
        logged = [h["rewards/prm/mean"] for h in trainer.state.log_history if "rewards/prm/mean" in h]
        assert len(logged) == 2 and all(0.0 <= r <= 1.0 for r in logged)
        metrics = httpx.get(url + "/metrics", headers={"Authorization": "Bearer t0k"}).text
        assert int(re.search(r"prmkit_scored_items_total (\d+)", metrics).group(1)) == 8  # 2 steps x 4 completions
    finally:
        proc.terminate()
        proc.wait(10)


def test_dense_rewards_land_on_the_last_token_of_each_step():
    import transformers

    from prmkit.rl import dense_rewards, step_end_tokens
    from prmkit.world.policy import BUNDLED_POLICY

    tok = transformers.AutoTokenizer.from_pretrained(str(BUNDLED_POLICY))
    completion = "2 - 1 = 1\n1 * 3 = 3\n\nThe answer is 3.\n"
    ends = step_end_tokens(tok, completion)
    pieces = tok.convert_ids_to_tokens(tok(completion, add_special_tokens=False)["input_ids"])
    assert [pieces[i] for i in ends] == [" 1", " 3", "."]  # each step's last token, separators excluded
    dense = dense_rewards(ends, [0.9, 0.8, 0.1], len(pieces))
    want = [{ends[0]: 0.9, ends[1]: 0.8, ends[2]: 0.1}.get(i, 0.0) for i in range(len(pieces))]
    assert dense.tolist() == pytest.approx(want)
