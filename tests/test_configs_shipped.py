"""Every shipped config loads, and its training sections build valid TRL configs."""

from pathlib import Path

import pytest

from actrain.config import load_config
from actrain.methods import method_stages, stage_inputs
from actrain.stages.act_supervised import dpo_choice_config, sft_choice_config
from actrain.stages.common import grpo_args

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
