"""`actrain plan`: every shipped config's TRL configs build, batches follow the GPU count, and
the estimates move the way the settings say they should."""

from pathlib import Path

import pytest

from actrain.config import load_config
from actrain.errors import ActrainError
from actrain.plan import plan

CONFIGS = sorted(Path(__file__).parents[1].glob("configs/*.yaml"))


def _row(text: str, stage: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.startswith(f"| {stage} |"))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_plans(path, tmp_path):
    config = load_config(path, [f"runs_dir={tmp_path}"])
    paper_scale = "qwen3-8b" in path.stem  # the others are sized for one CPU
    text = plan(config, config.compare.methods, config.compare.seeds, "h100",
                8 if paper_scale else 1, paper_scale, 10, None)
    assert "total: about" in text
    assert "DOES NOT FIT" not in text


def test_batches_follow_the_gpu_count_and_micro_batch(tmp_path):
    overrides = [f"runs_dir={tmp_path}", "model=Qwen/Qwen3-8B", "pipeline=act",
                 "act.prompts_per_step=32", "act.num_generations=8"]
    config = load_config(None, [*overrides, "act.micro_batch=4"])
    one = _row(plan(config, ["act"], [0], "h100", 1, True, 10, None), "act")
    eight = _row(plan(config, ["act"], [0], "h100", 8, True, 10, None), "act")
    assert one[3] == "4 x 64 acc." and eight[3] == "4 x 8 acc."
    whole = load_config(None, overrides)  # no micro-batch: 32 completions at once a GPU
    big = _row(plan(whole, ["act"], [0], "h100", 8, True, 10, None), "act")
    assert big[3] == "32 x 1 acc." and float(big[6]) > float(eight[6])


def test_full_fine_tuning_holds_16_bytes_a_parameter_sharded_or_not(tmp_path):
    """fp32 weights, gradients and AdamW moments on one GPU or DDP; bf16 weights and gradients
    with an fp32 master copy under ZeRO-3 (fp32 under FSDP2): 16 bytes either way."""
    config = load_config(None, [f"runs_dir={tmp_path}", "model=Qwen/Qwen3-8B", "pipeline=act",
                                "act.prompts_per_step=32", "act.num_generations=8"])
    whole = float(_row(plan(config, ["act"], [0], "h100", 8, False, 10, None), "act")[6])
    sharded = float(_row(plan(config, ["act"], [0], "h100", 8, True, 10, None), "act")[6])
    assert whole - sharded == pytest.approx(8.19e9 * 16 * (1 - 1 / 8) / 2**30, abs=1)


def test_gpu_hours_scale_with_steps_and_the_gpu(tmp_path):
    base = [f"runs_dir={tmp_path}", "model=Qwen/Qwen3-8B", "pipeline=act",
            "act.prompts_per_step=8"]
    short = load_config(None, [*base, "act.max_steps=1000"])
    long = load_config(None, [*base, "act.max_steps=2000"])
    hours = [float(_row(plan(c, ["act"], [0], g, 8, True, 10, None), "act")[5])
             for c, g in ((short, "h100"), (long, "h100"), (short, "a100"))]
    assert hours[1] == pytest.approx(2 * hours[0], rel=0.05)
    assert hours[2] > hours[0]  # a slower GPU


def test_plan_fails_now_on_what_would_fail_later(tmp_path):
    config = load_config(None, [f"runs_dir={tmp_path}", "pipeline=act",
                                "act.prompts_per_step=8", "act.grpo={no_such_option: 1}"])
    with pytest.raises(ActrainError, match="act.grpo"):
        plan(config, ["act"], [0], "h100", 8, False, 10, None)
    config = load_config(None, [f"runs_dir={tmp_path}", "pipeline=act",
                                "act.prompts_per_step=3", "act.num_generations=8"])
    with pytest.raises(ActrainError, match="whole groups of 8"):
        plan(config, ["act"], [0], "h100", 2, False, 10, None)
    with pytest.raises(ActrainError, match="unknown GPU"):
        plan(config, ["act"], [0], "tpu", 1, False, 10, None)


def test_plan_counts_disk_and_the_jvms_every_process_starts():
    config = load_config(Path(__file__).parents[1] / "configs" / "scienceworld-qwen3-8b.yaml")
    text = plan(config, ["act_il_rl"], [0], "h100", 8, True, 10, None)
    assert "each stage's checkpoint 16.4 GB (bf16)" in text
    assert "16 instances a process x 8 processes a node x 1.5 GB = 192 GB" in text
    assert "data.collect_workers (8) a node" in text
