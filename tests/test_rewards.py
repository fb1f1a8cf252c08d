import math

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
