"""ACT's GRPO stage on the tiny random model: 2 real TRL steps."""

import json

from helpers.pairs import make_pair

from actrain.config.schema import load_config
from actrain.data.kway import training_rows
from actrain.runtime.io import read_json
from actrain.stages.act import act_dataset, run_act
from actrain.stages.inputs import stage_inputs


def test_training_rows_add_the_other_order():
    rows = training_rows([make_pair(0, True)], both_orders=True)
    assert [r["expert_first"] for r in rows] == [True, False]
    assert [r["actions"][r["label"]] for r in rows] == ["take shirt", "take shirt"]
    assert len(training_rows([make_pair(0, True)], both_orders=False)) == 1


def test_paired_rows_keep_both_orders_of_a_pair_adjacent():
    pairs = [make_pair(i, i % 3 == 0) for i in range(20)]
    rows = training_rows(pairs, both_orders=True, seed=5)
    assert rows == training_rows(pairs, both_orders=True, seed=5)
    assert [r["task"] for r in rows[::2]] != [p["task"] for p in pairs]  # shuffled by pair
    for first, second in zip(rows[::2], rows[1::2], strict=True):
        assert first["task"] == second["task"]
        assert first["expert_first"] != second["expert_first"]


def test_paired_batches_turn_off_trl_shuffling(tmp_path):
    import pytest

    from actrain.errors import ActrainError
    from actrain.stages.act import grpo_config

    def args(*overrides: str):  # noqa: ANN202
        return grpo_config(stage_inputs(load_config(None, list(overrides)), "act"), tmp_path)

    prompt_groups = "act.advantage_group=prompt"
    assert args(prompt_groups).shuffle_dataset is False
    assert args(prompt_groups, "act.paired_batches=false").shuffle_dataset
    with pytest.raises(ActrainError, match="even"):
        args(prompt_groups, "act.prompts_per_step=3")
    # Pair groups hold both orders inside each group: TRL shuffles pairs as usual.
    assert args().shuffle_dataset


def test_pair_group_dataset_has_one_row_per_pair_and_both_renderings(tokenizer):
    from actrain.stages.act import pair_group_dataset

    config = load_config(None, ["model=tiny-random"])
    ds, by_prompt = pair_group_dataset(tokenizer, [make_pair(0, True), make_pair(1, False)],
                                       config.critic)
    assert len(ds) == 2 and ds[0]["prompt"] == ds[1]["prompt"]  # same state and actions
    rendered = by_prompt[ds[0]["prompt"]]
    assert rendered["actions"] == ["take shirt", "inventory"]
    first, second = rendered["prompts"]
    assert first == ds[0]["prompt"] and first != second
    assert first.index("take shirt") < first.index("inventory")
    assert second.index("inventory") < second.index("take shirt")


def test_act_dataset_has_prompt_and_reward_columns(tokenizer):
    config = load_config(None, ["model=tiny-random"])
    ds = act_dataset(tokenizer, [make_pair(0, True), make_pair(1, False)],
                     stage_inputs(config, "act"))
    assert set(ds.column_names) == {"prompt", "actions", "label", "expert_first"}
    assert len(ds) == 4
    assert ds[0]["prompt"].endswith("<answer>")


def test_two_grpo_steps_on_tiny_model(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    config = load_config(None, [
        "model=tiny-random", "dtype=float32", "act.max_steps=2", "act.num_generations=2",
        "act.prompts_per_step=2", "act.eval_every=1", "critic.max_new_tokens=3",
    ])
    pairs = [make_pair(i, i % 2 == 0) for i in range(4)]
    checkpoint = run_act(model, tokenizer, pairs, pairs[:2], stage_inputs(config, "act"), tmp_path,
                         hard_pairs=pairs[2:])
    assert (checkpoint / "config.json").exists()
    assert list(checkpoint.glob("*.safetensors"))
    history = read_json(tmp_path / "log_history.json")
    steps = [h for h in history if "reward" in h]
    assert len(steps) == 2
    for key in ("rewards/accuracy/mean", "rewards/format_ok/mean", "frac_reward_zero_std",
                "rewards/choice_reward/mean"):
        assert key in steps[0]
    curve = (tmp_path / "critic_curve.jsonl").read_text().splitlines()
    assert len(curve) == 2  # eval_every=1 -> held-out metrics after each step
    rows = [json.loads(line) for line in curve]
    assert [r["pairs"] for r in rows] == [2, 2]
    assert [r["hard"]["pairs"] for r in rows] == [2, 2]  # and the hard set's beside them


def test_grpo_passthrough_and_bad_keys(tmp_path):
    import pytest

    from actrain.errors import ActrainError
    from actrain.stages.act import grpo_config

    assert grpo_config(stage_inputs(load_config(None), "act"), tmp_path).scale_rewards == "none"  # actrain's default
    config = load_config(None, ["act.grpo={scale_rewards: group}", "act.max_steps=3"])
    args = grpo_config(stage_inputs(config, "act"), tmp_path)
    assert args.scale_rewards == "group" and args.max_steps == 3
    # a key the section owns is set there, once: never silently overridden from grpo:
    for key, home in (("max_steps", "act.max_steps"), ("temperature", "act.temperature"),
                      ("per_device_train_batch_size", "act.the batch keys")):
        with pytest.raises(ActrainError, match=f"act.grpo.{key} would override {home}"):
            grpo_config(stage_inputs(load_config(None, [f"act.grpo={{{key}: 3}}"]), "act"),
                        tmp_path)
    assert args.per_device_train_batch_size == config.act.prompts_per_step * config.act.num_generations
    with pytest.raises(ActrainError, match="act.grpo"):
        grpo_config(stage_inputs(load_config(None, ["act.grpo={no_such_option: 1}"]), "act"),
                    tmp_path)


def test_pairs_drawn_by_resampling_are_counted_in_the_stage_length(tiny_model, tmp_path):
    """Every reward equal: every group is flat, so each of the `resample_tries` tries replaces
    both groups of the step with freshly drawn pairs, all of which ACT trains on."""
    model, tokenizer = tiny_model
    config = load_config(None, [
        "model=tiny-random", "dtype=float32", "act.max_steps=1", "act.num_generations=2",
        "act.prompts_per_step=2", "critic.max_new_tokens=3", "act.correct_reward=0",
        "act.malformed_reward=0", "act.zero_variance=resample", "act.resample_tries=3",
    ])
    pairs = [make_pair(i, i % 2 == 0) for i in range(4)]
    run_act(model, tokenizer, pairs, pairs[:2], stage_inputs(config, "act"), tmp_path)
    length = read_json(tmp_path / "length.json")
    assert length["steps"] == 1 and length["rows_per_step"] == 2
    assert length["resampled_pairs"] == 2 * 3


def test_action_format_sft_targets_are_the_expert_action_in_the_agents_tag(tokenizer):
    from actrain.stages.act_supervised import choice_examples

    pairs = [make_pair(0, True), make_pair(1, False)]
    for reasoning, opening in (("false", ""), ("true", "<action>")):
        config = load_config(None, ["model=tiny-random", "act.objective=sft",
                                    "critic.answer_format=action",
                                    f"critic.reasoning={reasoning}"])
        examples = choice_examples(tokenizer, pairs, stage_inputs(config, "act"))
        assert examples["chosen"] == [f"{opening}take shirt</action>"] * 4  # both orders
        assert examples["rejected"] == [f"{opening}inventory</action>"] * 4
        assert all(p.endswith("assistant\n" + ("<action>" if not opening else ""))
                   for p in examples["prompt"])
    # the index format keeps its numbered answers
    config = load_config(None, ["model=tiny-random", "act.objective=sft"])
    examples = choice_examples(tokenizer, pairs, stage_inputs(config, "act"))
    assert sorted(examples["chosen"]) == ["1</answer>", "1</answer>", "2</answer>", "2</answer>"]


def test_action_format_refuses_too_few_new_tokens_for_the_longest_action(tokenizer, tmp_path):
    import pytest

    from actrain.errors import ActrainError
    from actrain.stages.act import check_answer_room

    pairs = [make_pair(0, True), make_pair(1, False)]
    config = load_config(None, ["model=tiny-random", "critic.answer_format=action",
                                "critic.max_new_tokens=4"])
    # "take shirt</action>": take, " shirt", "</", "action", ">"
    with pytest.raises(ActrainError, match="'take shirt</action>' takes 5 tokens.*at least 5"):
        run_act(None, tokenizer, pairs, pairs, stage_inputs(config, "act"), tmp_path)
    check_answer_room(tokenizer, pairs, load_config(None, [
        "critic.answer_format=action", "critic.max_new_tokens=5"]).critic)
    with pytest.raises(ActrainError, match="plus room to think"):
        check_answer_room(tokenizer, pairs, load_config(None, [
            "critic.answer_format=action", "critic.max_new_tokens=5",
            "critic.reasoning=true"]).critic)
    check_answer_room(tokenizer, pairs, load_config(None, ["critic.max_new_tokens=1"]).critic)
