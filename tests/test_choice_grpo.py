"""Pair-group GRPO for the choice: group layout, advantages, one-pass scoring, objectives."""

import contextlib
import math
from types import SimpleNamespace

import pytest
import torch
from helpers import scripted_rollout as scripted
from helpers.pairs import make_pair

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.rewards import make_choice_reward, make_consistency_reward
from actrain.stages.choice_grpo import (
    PairGroupRollout,
    drop_zero_variance_groups,
    shared_prompt_logps,
)
from actrain.stages.inputs import stage_inputs


def _pair(i: int, expert_first: bool = True) -> dict:
    return make_pair(i, expert_first, observation=f"You are in bedroom {i}.")


def _rollout(size: int = 4) -> PairGroupRollout:
    pairs = {
        "A": {"prompts": ["A", "A-flipped"], "actions": ["take shirt", "inventory"]},
        "B": {"prompts": ["B", "B-flipped"], "actions": ["open door", "look"]},
    }
    return PairGroupRollout(pairs, tokenizer=None, num_generations=size, one_token=True)


def test_a_pair_group_shows_each_order_to_half_the_group():
    rows = _rollout(4).layout(["A"] * 4 + ["B"] * 4)
    assert rows["shown"] == ["A", "A", "A-flipped", "A-flipped", "B", "B", "B-flipped", "B-flipped"]
    assert rows["label"] == [0, 0, 1, 1] * 2
    assert rows["expert_first"] == [True, True, False, False] * 2
    assert rows["actions"][2] == ["inventory", "take shirt"]
    for i in range(8):
        expert = "take shirt" if i < 4 else "open door"
        assert rows["actions"][i][rows["label"][i]] == expert
    assert rows["mirror"] == [2, 3, 0, 1, 6, 7, 4, 5]


def test_pair_groups_reject_odd_groups_and_mixed_groups():
    with pytest.raises(ActrainError, match="even"):
        _rollout(3)
    with pytest.raises(ActrainError, match="one known pair"):
        _rollout(4).layout(["A", "A", "B", "B"])
    with pytest.raises(ActrainError, match="groups of 4"):
        _rollout(4).layout(["A"] * 6)


def _group_stds(rewards: list[float], size: int) -> list[float]:
    return torch.tensor(rewards).view(-1, size).std(dim=1).tolist()


def test_a_constant_position_keeps_variance_in_pair_groups_but_not_in_prompt_groups():
    reward = make_choice_reward("index", prefilled=True)
    always_first = ["1"] * 8
    # Pair groups: one pair, both orders in the group.
    rows = _rollout(8).layout(["A"] * 8)
    pair_rewards = reward(["A"] * 8, always_first, actions=rows["actions"], label=rows["label"])
    assert pair_rewards == [1.0] * 4 + [0.0] * 4
    assert _group_stds(pair_rewards, 8)[0] > 0  # a gradient towards the content
    # Prompt groups: each group is one shown order, so the same policy is all right or all wrong.
    actions = [["take shirt", "inventory"]] * 4 + [["inventory", "take shirt"]] * 4
    prompt_rewards = reward([""] * 8, always_first, actions=actions, label=[0] * 4 + [1] * 4)
    assert _group_stds(prompt_rewards, 4) == [0.0, 0.0]


def test_consistency_reward_needs_both_orders_right():
    consistency = make_consistency_reward("index", prefilled=True)
    rows = _rollout(4).layout(["A"] * 4)
    # rows 0,1 show expert first (answer 1 is right), rows 2,3 expert second (answer 2 is right)
    completions = ["1", "2", "2", "2"]
    assert consistency([""] * 4, completions, actions=rows["actions"], label=rows["label"],
                       mirror=rows["mirror"]) == [1.0, 0.0, 1.0, 0.0]


def test_zero_variance_groups_leave_the_loss_count():
    output = {
        "advantages": torch.tensor([0.0, 0.0, 1.0, -1.0]),
        "completion_mask": torch.ones(4, 1, dtype=torch.long),
        "num_items_in_batch": torch.tensor(4),
    }
    drop_zero_variance_groups(output, 2, gather=lambda x: x)
    assert output["completion_mask"].squeeze(1).tolist() == [0, 0, 1, 1]
    assert int(output["num_items_in_batch"]) == 2


def _trainer(tiny_model, tmp_path, **overrides):
    from actrain.stages.act import grpo_trainer

    model, tokenizer = tiny_model
    args = ["model=tiny-random", "dtype=float32", "act.max_steps=1", "act.num_generations=4",
            "act.prompts_per_step=2", "critic.max_new_tokens=1",
            *[f"{k}={v}" for k, v in overrides.items()]]
    config = load_config(None, args)
    pairs = [_pair(i, i % 2 == 0) for i in range(4)]
    return grpo_trainer(model, tokenizer, pairs, stage_inputs(config, "act"), tmp_path, []), tokenizer


def test_one_prompt_pass_gives_the_plain_log_probabilities(tiny_model, tmp_path):
    from trl import GRPOTrainer

    trainer, tokenizer = _trainer(tiny_model, tmp_path)
    prompts = ["<|im_start|>user\nWhich?<|im_end|>\n<|im_start|>assistant\n<answer>",
               "<|im_start|>user\nA longer question here?<|im_end|>\n<|im_start|>assistant\n<answer>"]
    rows = []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        rows += [ids + [t] for t in tokenizer("1212", add_special_tokens=False)["input_ids"]]
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    fast, fast_entropy, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, input_ids, mask, 1, compute_entropy=True)
    plain, plain_entropy, _ = GRPOTrainer._get_per_token_logps_and_entropies(
        trainer, trainer.model, input_ids, mask, 1, compute_entropy=True)
    assert fast.shape == plain.shape == (len(rows), 1)
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fast_entropy, plain_entropy, atol=1e-4, rtol=1e-4)
    # gradients flow to the model through the shared prompt pass
    logps, _ = shared_prompt_logps(trainer.model, input_ids, mask, 1.0, contextlib.nullcontext)
    assert logps.requires_grad


def test_pair_group_grpo_logs_order_and_position_metrics(tiny_model, tmp_path):
    from actrain.runtime.io import read_json
    from actrain.stages.act import run_act

    model, tokenizer = tiny_model
    config = load_config(None, [
        "model=tiny-random", "dtype=float32", "act.max_steps=2", "act.num_generations=4",
        "act.prompts_per_step=2", "critic.max_new_tokens=1", "act.zero_variance=filter",
        "act.consistency_reward=0.5",
    ])
    pairs = [_pair(i, i % 2 == 0) for i in range(4)]
    run_act(model, tokenizer, pairs, pairs[:2], stage_inputs(config, "act"), tmp_path)
    steps = [h for h in read_json(tmp_path / "log_history.json") if "reward" in h]
    assert len(steps) == 2
    for key in ("choice/p_first", "choice/entropy", "choice/answer_mass", "frac_reward_zero_std",
                "rewards/accuracy_expert_first/mean", "rewards/accuracy_expert_second/mean",
                "rewards/consistency_reward/mean"):
        assert key in steps[0], key
    assert 0.0 <= steps[0]["choice/p_first"] <= 1.0


def test_action_format_grpo_shares_each_prompt_across_its_samples(tiny_model, tmp_path,
                                                                   monkeypatch):
    """`critic.answer_format: action` answers with the action's text: several tokens, so the
    one-token sampler is off; each distinct prompt is still encoded once for sampling and for the
    loss (the shared prefix), and only the completions run per sample."""
    import actrain.stages.choice_grpo as choice_grpo
    import actrain.stages.pair_groups as pair_groups

    calls = {"sample": 0, "score": 0}

    def counted(name, fn):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(pair_groups, "sample_with_shared_prompts",
                        counted("sample", pair_groups.sample_with_shared_prompts))
    monkeypatch.setattr(choice_grpo, "shared_prefix_logps",
                        counted("score", choice_grpo.shared_prefix_logps))
    trainer, _ = _trainer(tiny_model, tmp_path, **{
        "critic.answer_format": "action", "critic.max_new_tokens": 6, "act.num_generations": 2})
    rollout = trainer.rollout_func
    assert trainer.prefix_pass and trainer.args.max_completion_length == 6
    assert not rollout.one_token and rollout.answer_tokens is None
    shown = next(iter(rollout.pairs.values()))["prompts"]
    assert all(p.endswith("<|im_start|>assistant\n<action>") for p in shown)
    trainer.train()
    steps = [h for h in trainer.state.log_history if "reward" in h]
    assert len(steps) == 1
    assert steps[0]["completions/max_length"] > 1
    for key in ("rewards/choice_reward/mean", "rewards/accuracy/mean", "rewards/format_ok/mean"):
        assert key in steps[0], key
    assert "choice/p_first" not in steps[0]
    assert calls["sample"] >= 1 and calls["score"] >= 1


def _prompt_and_completion_rows(tokenizer, heads: list[list[int]], completions: list[list[int]]):
    """Every prompt with every completion, as TRL lays out its loss rows: prompts padded on the
    left, completions on the right; returns (input_ids, attention_mask, completion width)."""
    rows = [(h, c) for h in heads for c in completions]
    pw, cw = max(len(h) for h in heads), max(len(c) for c in completions)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (pw - len(h)) + h + c + [pad] * (cw - len(c)) for h, c in rows])
    mask = torch.tensor([[0] * (pw - len(h)) + [1] * (len(h) + len(c)) + [0] * (cw - len(c))
                         for h, c in rows])
    return ids, mask, cw


ACTION_PROMPTS = ["<|im_start|>user\nWhich?<|im_end|>\n<|im_start|>assistant\n<action>",
                  "<|im_start|>user\nA longer question here?<|im_end|>\n<|im_start|>assistant\n"
                  "<action>"]


def test_the_shared_prefix_gives_trls_log_probabilities_and_gradients(tiny_model, tmp_path):
    from trl import GRPOTrainer

    trainer, tokenizer = _trainer(tiny_model, tmp_path, **{
        "critic.answer_format": "action", "critic.max_new_tokens": 6, "act.num_generations": 2})
    completions = [tokenizer(t, add_special_tokens=False)["input_ids"]
                   for t in ("take shirt</action>", "look<|im_end|>", "open the door</action>")]
    heads = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in ACTION_PROMPTS]
    ids, mask, width = _prompt_and_completion_rows(tokenizer, heads, completions)
    scored = mask[:, -width:].bool()
    model = trainer.model
    model.zero_grad()
    fast, fast_entropy, _ = trainer._get_per_token_logps_and_entropies(
        model, ids, mask, width, compute_entropy=True)
    (fast * scored).sum().backward()
    fast_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    plain, plain_entropy, _ = GRPOTrainer._get_per_token_logps_and_entropies(
        trainer, model, ids, mask, width, compute_entropy=True)
    (plain * scored).sum().backward()
    assert fast.shape == plain.shape == (len(ACTION_PROMPTS) * len(completions), width)
    torch.testing.assert_close(fast[scored], plain[scored], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_entropy[scored], plain_entropy[scored], atol=1e-5, rtol=1e-5)
    for mine, theirs in zip(fast_grads, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-4)


def test_the_shared_prompt_sampler_ends_at_eos_and_reports_trls_log_probabilities(tiny_model,
                                                                                  tmp_path):
    from trl import GRPOTrainer

    from actrain.stages.one_prompt_pass import sample_with_shared_prompts

    trainer, tokenizer = _trainer(tiny_model, tmp_path, **{
        "critic.answer_format": "action", "critic.max_new_tokens": 6, "act.num_generations": 2})
    heads = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in ACTION_PROMPTS]
    rows = [heads[0]] * 3 + [heads[1]] * 3
    torch.manual_seed(0)
    sample = sample_with_shared_prompts(trainer.model, rows, 1.0, tokenizer,
                                        contextlib.nullcontext, 6, trainer.eos_token_ids)
    completions, logps = sample
    ends = set(trainer.eos_token_ids)
    for completion, values in zip(completions, logps, strict=True):
        assert len(values) == len(completion)
        assert len(completion) == 6 or completion[-1] in ends
        assert not ends & set(completion[:-1])  # nothing after the first end
    for head, completion, values in zip(rows, completions, logps, strict=True):
        ids, mask, width = _prompt_and_completion_rows(tokenizer, [head], [completion])
        with torch.no_grad():
            plain, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(
                trainer, trainer.model, ids, mask, width)
        torch.testing.assert_close(plain[0], torch.tensor(values), atol=1e-5, rtol=1e-5)
    # every token an end: each completion is its first token, kept, as TRL keeps its EOS
    completions, logps = sample_with_shared_prompts(trainer.model, rows, 1.0, tokenizer,
                                                    contextlib.nullcontext, 6,
                                                    range(len(tokenizer)))
    assert [len(c) for c in completions] == [1] * 6 and [len(v) for v in logps] == [1] * 6


def test_the_shared_prefix_is_kept_to_one_process_without_checkpointing():
    from actrain.stages.one_prompt_pass import prefix_pass_allowed

    def trainer(processes: int, checkpointing: bool) -> SimpleNamespace:
        return SimpleNamespace(accelerator=SimpleNamespace(num_processes=processes),
                               args=SimpleNamespace(gradient_checkpointing=checkpointing))

    assert prefix_pass_allowed(trainer(1, False))
    assert not prefix_pass_allowed(trainer(2, False))  # a wrapped forward runs once a backward
    assert not prefix_pass_allowed(trainer(1, True))  # checkpointing turns the cache off


@pytest.mark.parametrize("objective", ["sft", "dpo"])
def test_supervised_objectives_train_on_both_orders(objective, tiny_model, tmp_path):
    from actrain.stages.act import run_act
    from actrain.stages.act_supervised import choice_examples

    model, tokenizer = tiny_model
    config = load_config(None, ["model=tiny-random", "dtype=float32", "act.max_steps=1",
                                f"act.objective={objective}", "act.batch_size=4"])
    pairs = [_pair(i, i % 2 == 0) for i in range(3)]
    examples = choice_examples(tokenizer, pairs, stage_inputs(config, "act"))
    assert len(examples["prompt"]) == 6
    assert sorted(examples["chosen"]) == ["1</answer>"] * 3 + ["2</answer>"] * 3
    assert all(c != r for c, r in zip(examples["chosen"], examples["rejected"], strict=True))
    checkpoint = run_act(model, tokenizer, pairs, pairs, stage_inputs(config, "act"), tmp_path)
    assert list(checkpoint.glob("*.safetensors"))


def test_act_settings_are_validated():
    for bad in ("act.objective=ppo", "act.advantage_group=batch", "act.zero_variance=drop",
                "alternatives.mode=guess"):
        with pytest.raises(ActrainError, match=bad.split("=")[0].split(".")[1]):
            load_config(None, [bad])


def test_flat_groups_are_resampled_with_other_pairs():
    rollout, trainer = scripted.rollout(draws=["A"]), scripted.trainer()
    out = rollout(["B"] * 4 + ["A"] * 4, trainer)
    assert out["prompt_ids"][:4] == [[ord("A")]] * 2 + [[ord("a")]] * 2  # B was flat: now A
    assert out["actions"][2] == ["A-y", "A-x"] and out["label"][:4] == [0, 0, 1, 1]
    assert out["completion_ids"][:4] == [[1]] * 4
    assert trainer.logged["choice/resampled_groups"] == 0.5
    with pytest.raises(ActrainError, match="correctness"):
        PairGroupRollout(scripted.pairs(), scripted.Tok(), 4, one_token=True, resample_tries=2)


def test_one_try_samples_every_flat_group_in_one_call():
    rollout, trainer = scripted.rollout(draws="AAA"), scripted.trainer()
    out = rollout(["B"] * 4 + ["A"] * 4 + ["C"] * 4 + ["D"] * 4, trainer)
    assert rollout.calls == [16, 12]  # the batch, then the 3 flat groups together
    assert out["prompt_ids"] == [[ord("A")], [ord("A")], [ord("a")], [ord("a")]] * 4
    assert out["actions"][8:12] == [["A-x", "A-y"]] * 2 + [["A-y", "A-x"]] * 2
    assert trainer.logged["choice/resampled_groups"] == 0.75


def test_groups_still_flat_are_tried_again_together_until_the_tries_run_out():
    # try 1: B -> C (still flat), D -> A; try 2: B -> A
    rollout, trainer = scripted.rollout(draws="CAA"), scripted.trainer()
    out = rollout(["B"] * 4 + ["A"] * 4 + ["D"] * 4, trainer)
    assert rollout.calls == [12, 8, 4]
    assert out["prompt_ids"] == [[ord("A")], [ord("A")], [ord("a")], [ord("a")]] * 3
    assert trainer.logged["choice/resampled_groups"] == pytest.approx(2 / 3)
    # every replacement flat too: exactly one call per try
    rollout, trainer = scripted.rollout(tries=2, draws="BCDB"), scripted.trainer()
    out = rollout(["B"] * 4 + ["C"] * 4, trainer)
    assert rollout.calls == [8, 8, 8]
    assert out["prompt_ids"][:4] == [[ord("D")]] * 2 + [[ord("d")]] * 2


def test_trl_generation_is_asked_one_completion_per_shown_row():
    from types import SimpleNamespace

    seen = {}

    def generate(*, prompt_ids, images, multimodal_fields, num_generations):
        seen.update(rows=len(prompt_ids), images=images, num_generations=num_generations)
        return [[1]] * len(prompt_ids), None

    trainer = SimpleNamespace(_generate_single_turn=generate)
    rollout = PairGroupRollout(scripted.pairs(), scripted.Tok(), 4, one_token=False)
    completions, _ = rollout._complete(trainer, [[65]] * 8, log=False)
    assert len(completions) == 8 and seen == {"rows": 8, "images": None, "num_generations": 1}


def test_a_trl_with_another_generation_signature_is_refused_at_set_up(monkeypatch):
    from trl import GRPOTrainer

    from actrain.stages.choice_grpo import ChoiceGRPOTrainer

    def older(self, prompt_ids, images, multimodal_fields, has_tool_images=False):
        raise AssertionError("not reached")

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", older)
    rollout = PairGroupRollout(scripted.pairs(), scripted.Tok(), 4, one_token=False)
    with pytest.raises(ActrainError, match=r"trl==1\.16\.0"):
        ChoiceGRPOTrainer(rollout_func=rollout)


class _Answers(scripted.Scripted):
    """Scripted completions per shown prompt (`answers[prompt]`, as a text) instead of tokens."""

    def __init__(self, answers: dict[str, str], **kwargs) -> None:  # noqa: ANN003
        super().__init__(scripted.pairs(), _TextTok(), 4, one_token=False,
                         correct=_correct, resample_tries=3, **kwargs)
        self.answers = answers

    def _complete(self, trainer, prompt_ids, log):  # noqa: ANN001, ANN202
        self.calls.append(len(prompt_ids))
        return [self.tokenizer(self.answers[self.tokenizer.decode(ids)])["input_ids"]
                for ids in prompt_ids], None


def _correct(texts: list[str], actions: list[list[str]], labels: list[int]) -> list[bool]:
    """The correctness check the ACT stage passes (`act.grpo_trainer`)."""
    from actrain.rewards import choices

    return [p == y for p, y in zip(choices(texts, actions, "index", False), labels, strict=True)]


class _TextTok(scripted.Tok):
    def batch_decode(self, rows, skip_special_tokens=True):  # noqa: ANN001, ANN201
        return [self.decode(r) for r in rows]


def _trl_trainer(reward_funcs, weights):  # noqa: ANN001, ANN202
    """The parts of a `GRPOTrainer` the rollout touches, with TRL's reward attributes."""
    trainer = scripted.trainer()
    trainer.processing_class = _TextTok()
    trainer.reward_funcs, trainer.reward_weights = reward_funcs, torch.tensor(weights)
    trainer.state = None
    return trainer


def test_a_group_of_wrong_and_malformed_answers_is_not_flat():
    """Wrong (0) and malformed (-0.5) answers differ in reward: the group teaches the format, so
    it is kept, though no answer in it is right."""
    answers = {"B": "<answer>2</answer>", "b": "no answer", "A": "<answer>1</answer>",
               "a": "<answer>1</answer>"}
    rollout = _Answers(answers, draws="A")
    trainer = _trl_trainer([make_choice_reward("index", prefilled=False)], [1.0])
    out = rollout(["B"] * 4 + ["A"] * 4, trainer)
    assert trainer.logged["choice/resampled_groups"] == 0.0 and rollout.calls == [8]
    assert out["prompt_ids"][:4] == [[ord("B")]] * 2 + [[ord("b")]] * 2


def test_flat_means_every_weighted_reward_equal_with_rows_no_function_scores_left_out():
    answers = {"B": "<answer>1</answer>", "b": "<think>cut off", "C": "<answer>1</answer>",
               "c": "<answer>2</answer>", "A": "<answer>1</answer>", "a": "<answer>1</answer>"}
    rewards = [make_choice_reward("index", prefilled=False, correct=0.1),
               make_consistency_reward("index", prefilled=False)]
    rollout = _Answers(answers, draws="AA")
    trainer = _trl_trainer(rewards, [1.0, 0.3])
    rollout(["B"] * 4 + ["C"] * 4 + ["A"] * 4, trainer)
    # B: its scored rows are all right (0.1), the cut-off ones unscored: no advantage, resampled.
    # C: all right, consistent (0.1 + 0.3 each, not a dyadic sum): flat. A: half right.
    assert trainer.logged["choice/resampled_groups"] == pytest.approx(2 / 3)


def _trl_group_advantages(rewards: list[float], size: int, scale: bool) -> torch.Tensor:
    """TRL 1.16's advantages for `scale_rewards` none (`scale=False`) or group (`True`)."""
    from trl.trainer.utils import nanstd

    r = torch.tensor(rewards, dtype=torch.float32)
    mean = torch.nanmean(r.view(-1, size), dim=1).repeat_interleave(size)
    advantages = r - mean
    if scale:
        advantages = advantages / (nanstd(r.view(-1, size), dim=1).repeat_interleave(size) + 1e-4)
    return torch.nan_to_num(advantages, nan=0.0)


@pytest.mark.parametrize("scale", [False, True])
def test_flat_groups_are_found_despite_float_rounding(scale):
    """All-equal rewards like 0.2 leave advantages of ~1e-8 (or ~1e-4 once divided by the tiny
    std), not 0: such groups are flat too; a group with a cut-off row (advantage 0) as well."""
    groups = [[0.2] * 8, [0.3] * 8, [0.2] * 6 + [math.nan] * 2,
              [0.2] * 7 + [0.3], [1.0] * 4 + [0.0] * 4]
    advantages = _trl_group_advantages([r for g in groups for r in g], 8, scale)
    assert advantages[:8].abs().max() > 0  # the rounding the exact test missed
    output = {"advantages": advantages, "completion_mask": torch.ones(40, 3, dtype=torch.long),
              "num_items_in_batch": torch.tensor(120)}
    drop_zero_variance_groups(output, 8, gather=lambda x: x)
    kept = output["completion_mask"][:, 0].view(-1, 8)[:, 0].tolist()
    assert kept == [0, 0, 0, 1, 1]
    assert int(output["num_items_in_batch"]) == 2 * 8 * 3


def test_flat_rewards_tolerates_rounding_and_ignores_unscored_rows():
    from actrain.stages.choice_grpo import flat_rewards

    assert flat_rewards([0.1 + 0.2, 0.3, math.nan])
    assert flat_rewards([math.nan, 1.0]) and flat_rewards([])
    assert not flat_rewards([0.0, -0.5, math.nan])
