"""The real embedded model (SmolLM2-135M-Instruct from its GGUF wheel) through the pipeline."""

import json
from pathlib import Path

import pytest
import yaml

from actrain.cli.main import main
from actrain.runtime.models import embedded_model_dir, load_model


def test_embedded_model_converts_once_and_generates():
    folder = embedded_model_dir("smollm2-135m")
    assert list(folder.glob("*.safetensors")) and (folder / "tokenizer.json").exists()
    model, tokenizer = load_model("smollm2-135m")
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    assert not getattr(model, "is_quantized", False)
    ids = tokenizer("The kitchen has a", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3


def test_act_il_pipeline_on_the_real_model(tmp_path):
    config = {
        "name": "real", "runs_dir": str(tmp_path), "model": "smollm2-135m",
        "env": {"id": "twx/twc"}, "data": {"train_tasks": 1, "eval_tasks": 1},
        "alternatives": {"samples_per_state": 2},
        "act": {"max_steps": 1, "num_generations": 2, "prompts_per_step": 2},
        "il": {"max_steps": 1, "batch_size": 2}, "pipeline": "act_il",
        # one split, one episode: the rollout path on the real model; splits and episode
        # counts are the tiny model's tests (each real-model agent evaluation cost 53 s here)
        "rollout": {"episodes": 1, "max_steps": 3, "batch_size": 2, "next_action_states": 4,
                    "splits": ["id_test"]},
        "hard_set": {"tasks": 2},
    }
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path)]) == 0
    run = tmp_path / "real"
    base = json.loads((run / "critic/base.json").read_text())
    act = json.loads((run / "critic/seed0-act.json").read_text())
    for metrics in (base, act):
        assert metrics["pairs"] > 0 and metrics["balanced_accuracy"] is not None
    # Both checkpoints are also judged on the hard set: same-kind alternatives verified worse.
    hard = [json.loads(line) for line in (run / "hard/pairs.jsonl").read_text().splitlines()]
    assert hard and all(p["expert_action"].split()[0] == p["alternative"].split()[0]
                        for p in hard)
    for name in ("base", "seed0-act"):
        judged = json.loads((run / f"critic/{name}.hard.json").read_text())
        assert judged["pairs"] == len(hard)
    # The embedded model answers in the prefilled format most of the time.
    assert base["format_failure_rate"] < 0.5
    stats = json.loads((run / "pairs/stats.json").read_text())["train"]
    assert stats["from_policy"] + stats["random_fallback"] == len(
        (run / "pairs/train.jsonl").read_text().splitlines()
    )
    # The agent is rolled out before and after training, 1 episode, 3 steps at most.
    for agent in ("base", "seed0-act-il"):
        summary = json.loads((run / f"agent/{agent}.json").read_text())
        assert summary["id_test"]["episodes"] == 1 and "ood_test" not in summary
        assert 1 <= summary["id_test"]["mean_steps"] <= 3
    assert "| act_il | 1 |" in (run / "report.md").read_text()


def test_shared_prefix_sampling_matches_on_the_real_model():
    from actrain.runtime.generation import generate

    model, tokenizer = load_model("smollm2-135m")
    prompts = ["<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n",
               "<|im_start|>user\nWhat do you do with a closed door in a text game?<|im_end|>\n"
               "<|im_start|>assistant\n"]
    kwargs = dict(num_samples=2, max_new_tokens=8, temperature=0.0)
    assert generate(model, tokenizer, prompts, share_prefix=True, **kwargs) == generate(
        model, tokenizer, prompts, share_prefix=False, **kwargs
    )


@pytest.mark.slow
def test_the_quickstart_critic_learns_on_held_out_pairs(tmp_path):
    """`make test-slow`: ACT on the usual pairs (16 pair-group GRPO steps on the real model)
    must lift held-out balanced accuracy well above chance in both shown orders (the demo
    measured 50.0% -> 92.9%). About 6 minutes on 2 cores without native bf16."""
    overrides = [f"runs_dir={tmp_path}", "name=slow", "pipeline=act", "rollout.enabled=false",
                 # the usual pairs, as the demo drew them before it drew pairs that need judgment
                 "alternatives.mode=admissible", "alternatives.kind=any",
                 "alternatives.verify=false", "alternatives.usual_share=0", "data.train_tasks=10",
                 "data.eval_tasks=6", "act.max_steps=16", "act.learning_rate=2e-5",
                 "act.eval_every=0", "hard_set.tasks=0"]
    quickstart = Path(__file__).parents[1] / "configs" / "quickstart.yaml"
    assert main(["run", str(quickstart), *overrides]) == 0
    base = json.loads((tmp_path / "slow/critic/base.json").read_text())
    act = json.loads((tmp_path / "slow/critic/seed0-act.json").read_text())
    assert base["balanced_accuracy"] < 0.65  # the untrained model names a position
    assert act["balanced_accuracy"] >= 0.8
    assert min(act["accuracy_expert_first"], act["accuracy_expert_second"]) >= 0.7
