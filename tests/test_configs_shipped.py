"""Every shipped config loads, and its training sections build valid TRL configs."""

from pathlib import Path

import pytest

from actrain.config.schema import load_config
from actrain.stages.act_supervised import dpo_choice_config, sft_choice_config
from actrain.stages.common import grpo_args
from actrain.stages.inputs import method_stages, stage_inputs

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_builds_trl_configs(path, tmp_path):
    config = load_config(path)
    for section in ("act", "rl"):
        stage = getattr(config, section)
        args = grpo_args(stage, section, tmp_path, stage_inputs(config, section).trainer, 8)
        # one process takes the whole global step, in whole groups
        assert args.per_device_train_batch_size * args.gradient_accumulation_steps == (
            stage.prompts_per_step * stage.num_generations)
        assert args.generation_batch_size % stage.num_generations == 0
    for split in config.rollout.splits:
        assert split in ("train", "id_test", "ood_test")
    for method in [config.pipeline, *config.compare.methods]:
        method_stages(method)
    sft = sft_choice_config(stage_inputs(config, "act"), tmp_path)  # one process: its share is the whole batch
    assert sft.per_device_train_batch_size * sft.gradient_accumulation_steps == config.act.batch_size
    dpo = dpo_choice_config(stage_inputs(config, "act"), tmp_path)
    assert dpo.beta == config.act.dpo.get("beta", 0.1) and dpo.max_steps == (
        config.act.max_steps or -1)


def test_paper_scale_configs_pin_the_papers_step_limits():
    configs = {p.stem: load_config(p) for p in CONFIGS}
    assert configs["alfworld-qwen3-8b"].rollout.max_steps == 50
    assert configs["webshop-qwen3-8b"].rollout.max_steps == 15
    limits = configs["scienceworld-qwen3-8b"].rollout.max_steps_by_task
    assert len(limits) == 30 and min(limits.values()) >= 30


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_colocated_vllm_has_a_context_limit_that_holds_a_turn(path):
    """At a model's own context length (Qwen3-8B: 40,960) one sequence needs about 5.6 GiB of
    KV cache, nearly all a colocated engine at 0.3 of an 80 GB GPU has left after the weights."""
    config = load_config(path)
    budgets = {"act": config.critic.max_new_tokens, "rl": config.rl.max_new_tokens}
    for section, completion in budgets.items():
        grpo = getattr(config, section).grpo
        if grpo.get("use_vllm") and grpo.get("vllm_mode", "colocate") == "colocate":
            limit = grpo.get("vllm_max_model_length")
            assert limit, f"{path.stem}: {section}.grpo sets no vllm_max_model_length"
            assert completion + 1024 <= limit <= 8192, (path.stem, section, limit)


PAPER_SCALE = [p for p in CONFIGS if p.stem.endswith("-qwen3-8b")]
PAPER_TABLE = ("prompt", "prompt-direct", "act", "il", "sr", "iwm_il", "act_il", "il_rl",
               "act_il_rl", "il_il", "il_rl_rl")


def _pairs_seen(config, stage: str, pairs: int, tmp_path: Path) -> float:
    """Pairs an ACT stage trains on over `pairs` training pairs, from the TRL arguments it
    builds: a pair shown in both orders is one pair (one GRPO pair group, or two SFT/DPO rows)."""
    from actrain.stages.act import grpo_config

    inputs = stage_inputs(config, stage)
    act = inputs.act
    orders = 2 if act.both_orders else 1
    if act.objective == "grpo":
        pair_rows = act.advantage_group == "pair"  # a row is a pair, else one shown order
        args = grpo_config(inputs, tmp_path, pairs if pair_rows else pairs * orders)
        rows = (args.per_device_train_batch_size * args.gradient_accumulation_steps
                // act.num_generations)
        return args.max_steps * rows / (1 if pair_rows else orders)
    build = sft_choice_config if act.objective == "sft" else dpo_choice_config
    args = build(inputs, tmp_path)
    if args.max_steps > 0:
        rows = args.per_device_train_batch_size * args.gradient_accumulation_steps
        return args.max_steps * rows / orders
    return args.num_train_epochs * pairs


@pytest.mark.parametrize("path", CONFIGS,
                         ids=lambda p: p.stem)
def test_the_choice_ablations_train_on_as_many_pairs_as_grpo(path, tmp_path):
    """"GRPO beats SFT / DPO on the choice" must not be a data-length effect: in every shipped
    config all three objectives see the same pairs x epochs."""
    config = load_config(path)
    pairs = 4096  # a multiple of every config's pairs a step: no rounding up of the last step
    seen = {stage: _pairs_seen(config, stage, pairs, tmp_path)
            for stage in ("act-grpo", "act-sft", "act-dpo")}
    assert seen["act-sft"] == seen["act-dpo"] == seen["act-grpo"], seen


@pytest.mark.parametrize("path", PAPER_SCALE, ids=lambda p: p.stem)
def test_paper_scale_stage_lengths_are_three_epochs_of_each_stages_data(path):
    """The paper matches lengths at about 3 epochs a stage (ACT -> IL and IL -> IL 6, the full
    pipeline and IL -> RL -> RL 9): epochs over each stage's own data, not fixed step counts."""
    config = load_config(path)
    for section in ("act", "rl", "il", "sr", "iwm"):
        stage = getattr(config, section)
        assert (stage.max_steps, stage.epochs) == (0, 3), section
    # the supervised ablations take GRPO's 32 pairs a step, in both orders
    assert config.act.batch_size == 2 * config.act.prompts_per_step
    # Early Experience reflects over several alternatives a state; ACT keeps one pair a state
    assert config.alternatives.per_state == 3 and config.act.pairs_per_state == 1


@pytest.mark.parametrize("path", PAPER_SCALE, ids=lambda p: p.stem)
def test_paper_scale_comparisons_hold_the_papers_table(path):
    """Prompting, ACT alone, IL, Early Experience (SR, IWM), ACT -> IL, IL -> RL, the full
    pipeline and the matched-length controls; SR's agent writes its reflection before acting."""
    config = load_config(path)
    methods = config.compare.methods
    assert set(PAPER_TABLE) <= set(methods)
    sr = [m for m in methods if method_stages(m) == ("sr",)]
    assert sr and all(config.data.actor_reasoning or m.endswith("-cot") for m in sr)
