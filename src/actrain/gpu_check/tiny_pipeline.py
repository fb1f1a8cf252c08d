"""The small pipeline the training stages and the launched worker run: a tiny model that answers
the critic at random (so GRPO has a gradient), the config overrides, and the training log read
back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actrain.gpu_check.settings import LEARNING_RATE, MODULE
from actrain.gpu_check.weights import has_weights


def chooser_model(work: Path) -> Path:
    """The tiny model made to answer "1" or "2" at random (a random model never does, and then
    GRPO's groups have no reward variance and its step no gradient): the output rows of those
    two tokens point along the mean final hidden state of critic prompts, a little apart."""
    import torch

    from actrain.config.schema import load_config
    from actrain.prompts import critic_prompts
    from actrain.runtime.models import load_model

    folder = work / "chooser"
    if has_weights(folder):
        return folder
    model, tokenizer = load_model("tiny-random")
    pairs = []
    for i in range(4):
        first = i % 2 == 0
        actions = ["go forward", "wait"] if first else ["wait", "go forward"]
        pairs.append({
            "task": f"train:{i}", "step": i % 2, "task_description": "Reach the end.",
            "history": [], "observation": f"You are in room {i % 2} of a corridor of 2.",
            "admissible": ["go back", "go forward", "wait"], "expert_action": "go forward",
            "alternative": "wait", "alternative_source": "admissible", "actions": actions,
            "expert_first": first, "label": 0 if first else 1,
        })
    config = load_config(None, ["critic.max_new_tokens=1"])
    encoded = tokenizer(critic_prompts(tokenizer, pairs, config.critic), return_tensors="pt",
                        padding=True, add_special_tokens=False)
    with torch.no_grad():
        hidden = model.model(**encoded).last_hidden_state[:, -1].mean(0)
    head = model.lm_head.weight.detach().clone()
    generator = torch.Generator().manual_seed(0)
    for token in ("1", "2"):  # close but not equal rows: equal ones would have no gradient
        noise = torch.randn(hidden.shape, generator=generator) * hidden.norm()
        noise /= hidden.numel() ** 0.5 * 200
        head[tokenizer.convert_tokens_to_ids(token)] = (hidden + noise) / hidden.norm() * 40
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(head)
    from actrain.runtime.models import save_model_folder

    return save_model_folder(model, tokenizer, folder)


def pipeline_overrides(check_work: Path, name: str, model: Path, device: str, dtype: str,
                       pipeline: str, steps: int) -> list[str]:
    """A pipeline small enough for seconds a stage: the corridor, 2 training tasks, tiny
    groups, no rollouts."""
    return [
        f"runs_dir={check_work / 'runs'}", f"name={name}", f"model={model}", f"device={device}",
        f"dtype={dtype}", f"pipeline={pipeline}", "env.id=gpu-check/corridor",
        f"env.entry_point={MODULE}:Corridor", "env.kwargs={length: 2}", "data.train_tasks=2",
        "data.eval_tasks=2", "alternatives.mode=admissible", "critic.max_new_tokens=1",
        f"act.max_steps={steps}", "act.num_generations=4", "act.prompts_per_step=2",
        f"act.learning_rate={LEARNING_RATE}", f"il.max_steps={steps}", "il.batch_size=4",
        f"il.learning_rate={LEARNING_RATE}", f"rl.max_steps={steps}", "rl.num_generations=2",
        "rl.prompts_per_step=2", "rl.max_new_tokens=4", f"rl.learning_rate={LEARNING_RATE}",
        f"rl.reward={MODULE}:varied_reward", "rollout.enabled=false", "eval.batch_size=8",
        "hard_set.tasks=2",
    ]


def training_log(stage_dir: Path) -> dict[str, Any]:
    """A trained stage's steps as TRL logged them: losses, gradient norms, rewards."""
    path = stage_dir / "log_history.json"
    if not path.exists():
        return {}
    steps = [h for h in json.loads(path.read_text()) if "grad_norm" in h or "loss" in h]
    keep = ("loss", "grad_norm", "reward", "learning_rate", "choice/answer_mass",
            "choice/p_first", "frac_reward_zero_std")
    return {"steps": len(steps),
            "train_log": [{k: h[k] for k in keep if k in h} for h in steps[:4]]}
