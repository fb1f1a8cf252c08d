import math

import pytest

from actrain.rewards import make_accuracy_metrics, make_choice_reward

ACTIONS = [["take apple", "open fridge"]] * 4


def test_choice_reward_correct_wrong_malformed():
    reward = make_choice_reward("index", prefilled=False)
    completions = ["<answer>1</answer>", "<answer>2</answer>", "no tag",
                   "<think>maybe <answer>1</answer></think><answer>1"]  # never closed
    assert reward(prompts=[""] * 4, completions=completions, actions=ACTIONS, label=[0, 0, 0, 0]) == [
        1.0, 0.0, -0.5, -0.5,
    ]


def test_choice_reward_values_configurable_and_conversational_completions():
    reward = make_choice_reward("index", prefilled=True, correct=2.0, wrong=-1.0, malformed=-3.0)
    completions = [[{"role": "assistant", "content": "2</answer>"}], "1</answer>", "", None]
    assert reward(prompts=[""] * 4, completions=completions, actions=ACTIONS, label=[1, 1, 1, 1]) == [
        2.0, -1.0, -3.0, -3.0,
    ]


def test_accuracy_metrics_split_by_shown_order():
    accuracy, first, second, format_ok, picks_first = make_accuracy_metrics("index", prefilled=True)
    kwargs = dict(
        prompts=[""] * 4,
        completions=["1</answer>", "1</answer>", "2</answer>", "junk"],
        actions=ACTIONS,
        label=[0, 1, 1, 0],
        expert_first=[True, False, False, True],
    )
    assert accuracy(**kwargs) == [1.0, 0.0, 1.0, 0.0]
    assert first(**kwargs) == [1.0, None, None, 0.0]
    assert second(**kwargs) == [None, 0.0, 1.0, None]
    assert format_ok(**kwargs) == [1.0, 1.0, 1.0, 0.0]
    assert picks_first(**kwargs) == [1.0, 1.0, 0.0, None]  # the malformed answer names no position
    assert not any(isinstance(v, float) and math.isnan(v) for v in first(**kwargs) if v is not None)


def test_action_reward_expert_admissible_other_and_missing_tag():
    from actrain.rewards import make_action_metrics, make_action_reward

    reward = make_action_reward(prefilled=True)
    completions = ["Take Shirt</action>", "inventory</action>", "dance</action>", "<b>", ""]
    n = len(completions)
    kwargs = {"expert_action": ["take shirt"] * n,
              "admissible_actions": [["inventory", "take shirt"]] * n}
    assert reward([""] * n, completions, **kwargs) == [1.0, 0.1, 0.0, -0.5, -0.5]
    custom = make_action_reward(prefilled=True, expert=2.0, admissible=0.5, malformed=-1.0)
    assert custom([""] * n, completions, **kwargs) == [2.0, 0.5, 0.0, -1.0, -1.0]
    expert, admissible, format_ok = make_action_metrics(prefilled=True)
    assert expert([""] * n, completions, **kwargs) == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert admissible([""] * n, completions, **kwargs) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert format_ok([""] * n, completions, **kwargs) == [1.0, 1.0, 1.0, 0.0, 0.0]


def _trl_advantages(rewards_per_func: list[list[float | None]], weights: list[float],
                    size: int) -> list[float]:
    """Advantages as TRL 1.16's `GRPOTrainer` computes them (`_calculate_rewards`, then
    `_generate_and_score_completions` with `scale_rewards: none`): None becomes NaN, a row every
    reward function left NaN is unscorable, kept out of the group mean, and gets advantage 0."""
    import torch

    per_func = torch.tensor([[math.nan if v is None else v for v in row]
                             for row in zip(*rewards_per_func, strict=True)])
    unscorable = torch.isnan(per_func).all(dim=1)
    rewards = (per_func * torch.tensor(weights).unsqueeze(0)).nansum(dim=1)
    rewards[unscorable] = torch.nan
    mean = torch.nanmean(rewards.view(-1, size), dim=1).repeat_interleave(size)
    return torch.nan_to_num(rewards - mean, nan=0.0).tolist()


def _act_rewards(completions, prompts, consistency=0.0):  # noqa: ANN001, ANN202
    """Every reward function of a reasoning ACT run, called as TRL calls them, and the weights."""
    from actrain.rewards import make_consistency_reward

    n = len(completions)
    kwargs = dict(prompts=prompts, completions=completions, actions=ACTIONS[:1] * n,
                  label=[0] * n, expert_first=[True] * n, mirror=list(range(n)))
    funcs = [make_choice_reward("index", prefilled=False),
             make_consistency_reward("index", prefilled=False),
             *make_accuracy_metrics("index", prefilled=False)]
    weights = [1.0, consistency] + [0.0] * (len(funcs) - 2)
    return [f(**kwargs) for f in funcs], weights


RIGHT = "<think>the apple is needed</think><answer>1</answer>"
WRONG = "<think>the fridge first</think><answer>2</answer>"
CUT = "<think>the apple, or maybe the fridge; the fridge is closed, so"


@pytest.mark.parametrize("consistency", [0.0, 0.5])
def test_a_completion_cut_off_while_thinking_stays_out_of_its_group_baseline(consistency):
    # 6 cut off, 1 right, 1 wrong: scored -0.5, the cut-off rows made the baseline -0.25 and
    # gave the wrong answer +0.25
    completions = [CUT] * 6 + [RIGHT, WRONG]
    rewards, weights = _act_rewards(completions, [""] * 8, consistency)
    assert rewards[0][:6] == [None] * 6
    advantages = _trl_advantages(rewards, weights, 8)
    assert advantages[7] < 0 < advantages[6]  # the wrong answer is pushed down, the right up
    assert advantages[:6] == [0.0] * 6  # masked out of the loss, and no weight in the baseline
    assert advantages[6] == pytest.approx(0.5 + consistency / 2)


def test_a_cut_off_completion_is_not_a_format_failure_but_a_finished_malformed_one_is():
    completions = [CUT, "<think>done</think>no tag", RIGHT, WRONG]
    rewards, weights = _act_rewards(completions, [""] * 4)
    assert rewards[0] == [None, -0.5, 1.0, 0.0]
    advantages = _trl_advantages(rewards, weights, 4)
    assert advantages[0] == 0.0 and advantages[1] < advantages[3] < advantages[2]


def test_a_prompt_that_opened_thinking_reads_the_completion_from_inside_the_block():
    """R1-distill / Qwen3-Thinking-2507 templates end the prompt with "<think>\\n": the
    completion only closes the block, and one that never does was cut off, not answered."""
    opened = ["<|im_start|>assistant\n<think>\n"] * 3
    completions = ["the apple... <answer>1</answer> or", "hmm</think><answer>1</answer>",
                   "hmm</think><answer>2</answer>"]
    rewards, _ = _act_rewards(completions, opened)
    assert rewards[0] == [None, 1.0, 0.0]
    closed = ["<|im_start|>assistant\n"] * 3  # the same text, from a prompt that did not open it
    assert _act_rewards(completions, closed)[0][0] == [1.0, 1.0, 0.0]


def test_text_run_on_after_the_closing_tag_is_ignored():
    """GRPO generation does not stop at the closing tag: what follows it must not change the
    score, as it would not have been generated with the stop rule."""
    from actrain.rewards import make_action_reward

    reward = make_choice_reward("index", prefilled=False)
    completions = ["<answer>1</answer><think>hmm</think>", "<answer>1</answer>",
                   "<answer>2</answer><think>still", "<answer>1</answer></think><answer>2</answer>"]
    assert reward(prompts=[""] * 4, completions=completions, actions=ACTIONS,
                  label=[0] * 4) == [1.0, 1.0, 0.0, 1.0]
    action = make_action_reward(prefilled=False)
    kwargs = dict(prompts=[""] * 2, expert_action=["take apple"] * 2,
                  admissible_actions=[["take apple", "open fridge"]] * 2)
    assert action(completions=["<action>take apple</action><think>hmm</think>",
                               "<action>take apple</action>"], **kwargs) == [1.0, 1.0]


def _rl_rewards(completions, prompts):  # noqa: ANN001, ANN202
    """The RL stage's reward functions of a reasoning run, called as TRL calls them, and the
    weights the stage gives them."""
    from actrain.rewards import make_action_metrics, make_action_reward

    n = len(completions)
    kwargs = dict(prompts=prompts, completions=completions, expert_action=["take apple"] * n,
                  admissible_actions=[["take apple", "open fridge"]] * n)
    funcs = [make_action_reward(prefilled=False), *make_action_metrics(prefilled=False)]
    return [f(**kwargs) for f in funcs], [1.0] + [0.0] * (len(funcs) - 1)


ACT_EXPERT = "<think>the apple is needed</think><action>take apple</action>"
ACT_WRONG = "<think>dance first</think><action>dance</action>"
ACT_CUT = "<think>the apple, or maybe the fridge; the fridge is closed, so"


def test_an_rl_completion_cut_off_while_thinking_stays_out_of_its_group_baseline():
    # 6 cut off, the expert's action, an action the game would not take: scored -0.5, the cut-off
    # rows made the baseline -0.25 and gave the wrong action +0.25
    completions = [ACT_CUT] * 6 + [ACT_EXPERT, ACT_WRONG]
    rewards, weights = _rl_rewards(completions, [""] * 8)
    advantages = _trl_advantages(rewards, weights, 8)
    assert advantages[7] < 0 < advantages[6]
    assert all(r[:6] == [None] * 6 for r in rewards)  # the reward and every metric
    assert advantages[:6] == [0.0] * 6
    assert advantages[6] == pytest.approx(0.5)


def test_an_rl_completion_that_finished_without_a_tag_is_still_malformed():
    completions = [ACT_CUT, "<think>done</think>no tag", ACT_EXPERT, "<action>open fridge</action>"]
    rewards, weights = _rl_rewards(completions, [""] * 4)
    assert rewards[0] == [None, -0.5, 1.0, 0.1]
    assert rewards[3] == [None, 0.0, 1.0, 1.0]  # action_format_ok
    advantages = _trl_advantages(rewards, weights, 4)
    assert advantages[0] == 0.0 and advantages[1] < advantages[3] < advantages[2]
    # a prompt that opened the block: the completion only closes it, or was cut off
    opened = ["<|im_start|>assistant\n<think>\n"] * 2
    assert _rl_rewards(["so <action>take apple</action>", "ok</think><action>take apple</action>"],
                       opened)[0][0] == [None, 1.0]
    # a prefilled action tag has begun the answer: never cut off
    from actrain.rewards import make_action_reward

    assert make_action_reward(prefilled=True)(
        [""], ["<think>hm"], expert_action=["take apple"], admissible_actions=[["take apple"]],
    ) == [-0.5]


def test_action_format_rewards_the_expert_action_by_its_text():
    """`critic.answer_format: action`: right when the <action> names the expert's action, wrong
    when it names the alternative, malformed for anything else."""
    reward = make_choice_reward("action", prefilled=True)
    completions = ["Take  Apple.</action>", "open fridge</action>", "eat apple</action>",
                   "1</action>", "take apple or open fridge</action>", "<answer>take apple</answer>",
                   "take apple</action> open fridge</action>"]
    n = len(completions)
    actions = [["take apple", "open fridge"]] * n
    assert reward(prompts=[""] * n, completions=completions, actions=actions, label=[0] * n) == [
        1.0, 0.0, -0.5, -0.5, -0.5, -0.5, 1.0,
    ]
    # the label says where the expert's action is shown
    assert reward(prompts=[""] * 2, completions=completions[:2], actions=actions[:2],
                  label=[1, 1]) == [0.0, 1.0]
    accuracy, _, _, format_ok, picks_first = make_accuracy_metrics("action", prefilled=True)
    kwargs = dict(prompts=[""] * n, completions=completions, actions=actions, label=[0] * n,
                  expert_first=[True] * n)
    assert accuracy(**kwargs) == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert format_ok(**kwargs) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert picks_first(**kwargs) == [1.0, 0.0, None, None, None, None, 1.0]


def test_action_format_with_reasoning_reads_the_action_tag_after_thinking():
    reward = make_choice_reward("action", prefilled=False)
    completions = [
        "<think>the apple is needed</think><action>take apple</action>",
        "<think>cold first</think><action>open fridge</action>",
        "<action>take apple</action><think>run-on",  # answered before thinking: not cut off
        "<think>still thinking",  # cut off while thinking: no reward at all
        "<think>done</think><answer>1</answer>",  # the index format's answer
    ]
    n = len(completions)
    assert reward(prompts=[""] * n, completions=completions,
                  actions=[["take apple", "open fridge"]] * n, label=[0] * n) == [
        1.0, 0.0, 1.0, None, -0.5,
    ]


def test_an_unknown_answer_format_is_refused_when_the_reward_is_built():
    for build in (make_choice_reward, make_accuracy_metrics):
        with pytest.raises(ValueError, match="unknown critic answer_format"):
            build("text")
