"""K-way choice: the expert's action among K - 1 alternatives of one state."""

import pytest
from helpers.pairs import make_pair

from actrain.config.schema import load_config
from actrain.data.kway import canonical, kway_items, rotation, training_rows
from actrain.errors import ActrainError
from actrain.eval.critic import critic_metrics, evaluate_critic
from actrain.prompts import critic_prompt, parse_choice
from actrain.records import Pair
from actrain.stages.act import pair_group_dataset
from actrain.stages.choice_grpo import PairGroupRollout, answer_token_ids
from actrain.stages.inputs import stage_inputs


def _pairs(step: int, alternatives: list[str]) -> list[Pair]:
    return [Pair.from_json({**make_pair(0), "step": step, "alternative": a,
                            "actions": ["take shirt", a], "label": 0}) for a in alternatives]


def test_rotations_put_the_expert_at_every_position_and_turn_back():
    candidates = ["e", "a", "b"]
    shown = [rotation(candidates, r) for r in range(3)]
    assert shown == [["e", "a", "b"], ["b", "e", "a"], ["a", "b", "e"]]
    assert all(s[r] == "e" for r, s in enumerate(shown))
    pair = _pairs(0, ["a"])[0]
    assert all(canonical(pair.shown(s, r)) == candidates for r, s in enumerate(shown))


def test_items_join_a_states_pairs_and_skip_states_with_too_few_alternatives():
    pairs = _pairs(0, ["inventory", "look", "Inventory "]) + _pairs(1, ["inventory"])
    items, short = kway_items(pairs, 3, all_positions=True)
    assert short == 1 and len(items) == 3  # one state, all three positions
    assert [i.label for i in items] == [0, 1, 2]
    assert all(i.actions[i.label] == "take shirt" for i in items)
    assert items[0].alternatives == ["inventory", "look"]  # distinct after normalising
    one, _ = kway_items(pairs, 3, all_positions=False, seed=1)
    assert len(one) == 1


def test_prompts_parse_and_metrics_speak_k_positions(tokenizer):
    prompt = critic_prompt(tokenizer, "Task: t", ["a", "b", "c"], reasoning=False)
    assert "Action 3: c" in prompt and "<answer>1</answer>, <answer>2</answer> or " \
        "<answer>3</answer>" in prompt
    two = critic_prompt(tokenizer, "Task: t", ["a", "b"], reasoning=False)
    assert "<answer>1</answer> or <answer>2</answer>" in two  # pairs: unchanged text
    assert parse_choice("3</answer>", ["a", "b", "c"], prefilled=True) == 2
    assert parse_choice("3</answer>", ["a", "b"], prefilled=True) is None
    rows = [_pairs(0, ["a"])[0].shown(["x"] * 3, r) for r in range(3)]
    metrics = critic_metrics(rows, [0, 0, 0])  # always position 1
    assert metrics["accuracy_by_position"] == [1.0, 0.0, 0.0]
    assert metrics["balanced_accuracy"] == pytest.approx(1 / 3) and metrics["candidates"] == 3


def test_training_rows_and_pair_groups_cover_every_rotation(tokenizer):
    critic = load_config(None, ["critic.candidates=3"]).critic
    items, _ = kway_items(_pairs(0, ["inventory", "look"]), 3, all_positions=False, seed=0)
    rows = training_rows(items, both_orders=True)
    assert sorted(r.label for r in rows) == [0, 1, 2]
    assert all(r.actions[r.label] == "take shirt" for r in rows)
    dataset, by_prompt = pair_group_dataset(tokenizer, items, critic)
    group = by_prompt[dataset[0]["prompt"]]
    assert len(group["prompts"]) == 3 and group["actions"] == ["take shirt", "inventory", "look"]
    rollout = PairGroupRollout(by_prompt, tokenizer, 6, one_token=True)
    layout = rollout.layout([dataset[0]["prompt"]] * 6)
    assert layout["label"] == [0, 0, 1, 1, 2, 2]
    assert all(a[y] == "take shirt" for a, y in zip(layout["actions"], layout["label"], strict=True))
    with pytest.raises(ActrainError, match="multiple of 3"):
        PairGroupRollout(by_prompt, tokenizer, 4, one_token=True)
    assert answer_token_ids(tokenizer, 3) is not None and len(answer_token_ids(tokenizer, 3)) == 3


def test_held_out_evaluation_judges_each_state_in_all_k_positions(tiny_model, tokenizer):
    config = load_config(None, ["model=tiny-random", "critic.candidates=3",
                                "critic.max_new_tokens=1"])
    pairs = _pairs(0, ["inventory", "look"]) + _pairs(1, ["look", "inventory"])
    model, _ = tiny_model
    metrics, predictions = evaluate_critic(model, tokenizer, pairs, config.critic, config.eval)
    assert metrics["pairs"] == 6 and len(metrics["accuracy_by_position"]) == 3
    assert sorted(p.label for p in predictions) == [0, 0, 1, 1, 2, 2]


def test_k_way_grpo_trains_on_the_tiny_model_and_refuses_what_it_cannot(tmp_path):
    from actrain.runtime.models import load_model
    from actrain.stages.act import run_act

    config = load_config(None, [
        "model=tiny-random", "dtype=float32", "critic.candidates=3", "critic.max_new_tokens=1",
        "act.max_steps=1", "act.num_generations=6", "act.prompts_per_step=1",
        "act.zero_variance=keep", "alternatives.per_state=2"])
    model, tokenizer = load_model("tiny-random")
    pairs = _pairs(0, ["inventory", "look"]) + _pairs(1, ["look", "inventory"])
    checkpoint = run_act(model, tokenizer, pairs, pairs, stage_inputs(config, "act"), tmp_path)
    assert (checkpoint / "config.json").exists()
    dpo = load_config(None, ["model=tiny-random", "critic.candidates=3", "act.objective=dpo"])
    with pytest.raises(ActrainError, match="K-way choice"):
        run_act(model, tokenizer, pairs, pairs, stage_inputs(dpo, "act"), tmp_path / "dpo")
    with pytest.raises(ActrainError, match="between 2 and 9"):
        load_config(None, ["critic.candidates=1"])


def test_k_way_needs_enough_alternatives_and_pairs_keep_their_keys(tmp_path):
    from actrain.run.pipeline import Pipeline

    def pipeline(*extra):
        return Pipeline(load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random",
                                           "dtype=float32", *extra]), ["act"], [0])

    with pytest.raises(ActrainError, match="alternatives.per_state >= 2"):
        pipeline("critic.candidates=3").check()
    pipeline("critic.candidates=3", "alternatives.per_state=2").check()
    pair, three = pipeline(), pipeline("critic.candidates=3")
    assert pair.keys.checkpoint_key(0, ("act",)) != three.keys.checkpoint_key(0, ("act",))
    assert pair.keys.critic_key(0, ()) != three.keys.critic_key(0, ())
    assert pipeline("critic.candidates=2").keys.checkpoint_key(0, ("act",)) == \
        pair.keys.checkpoint_key(0, ("act",))


def test_the_report_lists_k_way_accuracy_by_position():
    from actrain.report.critic import critic_table

    table = critic_table({"base": {"pairs": 6, "candidates": 3, "balanced_accuracy": 1 / 3,
                                   "accuracy_by_position": [1.0, 0.0, 0.0]}})
    assert "base (K = 3): 100.0%, 0.0%, 0.0%" in table
    assert "K-way" not in critic_table({"base": {"pairs": 2, "balanced_accuracy": 0.5}})


def test_the_first_word_rule_scores_k_way_items_too():
    from actrain.eval.rule_critics import verb_prior_accuracy

    train = _pairs(0, ["inventory", "look"])  # "take" always the expert's
    heldout = _pairs(1, ["inventory", "look"]) + _pairs(2, ["take hat", "look"])
    # state 1: "take" wins outright; state 2: a tie between the two "take" actions
    assert verb_prior_accuracy(train, heldout, 3) == pytest.approx((1 + 0.5) / 2)
    assert verb_prior_accuracy(train, heldout) is not None  # pairs: the pairwise rule
