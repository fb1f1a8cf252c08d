"""Early Experience's baselines (Zhang et al. 2025, arXiv 2510.08558), on the same pairs as ACT.

Both learn from where the pair's two actions lead (`data/branches.py` plays each from the
pair's state) and both are SFT through TRL's `SFTTrainer` (`stages.il.run_sft`):

- **Self-reflection** (`sr`): a teacher explained why the expert's action is better given both
  outcomes (`data/rationales.py`); the agent is trained to write that rationale, then the
  expert's action, on the agent prompt that asks it to think first. With `sr.mix_il` the plain
  IL rows (the run's own agent view) are mixed in, as the paper does. Rollouts use the run's
  view (`data.actor_reasoning`): with reasoning off the agent is prompted straight for its
  action, so the rationales shape the model through training only.
- **Implicit world modelling** (`iwm`): the agent is trained to predict the observation the game
  returned after the expert's action and after the alternative; the method is `iwm_il`, world
  modelling then IL, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.errors import ActrainError
from actrain.methods import IWMInputs, SRInputs
from actrain.prompts import (
    ActorView,
    actor_prompt,
    pair_state,
    render_state,
    world_model_prompt,
)
from actrain.stages.il import il_dataset, run_sft


def sr_rows(
    tokenizer: PreTrainedTokenizerBase, rationales: Sequence[dict[str, Any]], view: ActorView
) -> list[dict[str, str]]:
    """One row per usable rationale: the thinking agent prompt, then rationale + expert action.

    A state with several alternatives has one rationale each; every one is a row.
    """
    return [
        {
            "prompt": actor_prompt(tokenizer, render_state(pair_state(r), view.show_admissible),
                                   reasoning=True),
            "completion": f"{r['rationale']}\n<action>{r['expert_action']}</action>",
        }
        for r in rationales
        if r.get("rationale")
    ]


def sr_dataset(
    tokenizer: PreTrainedTokenizerBase,
    rationales: Sequence[dict[str, Any]],
    trajectories: Sequence[dict[str, Any]],
    inputs: SRInputs,
) -> Dataset:
    rows = sr_rows(tokenizer, rationales, inputs.view)
    if not rows:
        raise ActrainError("the SR stage has no usable rationales (every teacher output was "
                           "empty after cleaning: see rationales/train.jsonl)")
    if inputs.sr.mix_il:
        il = il_dataset(tokenizer, trajectories, inputs.view)
        rows += [{"prompt": p, "completion": c}
                 for p, c in zip(il["prompt"], il["completion"], strict=True)]
    return Dataset.from_dict({"prompt": [r["prompt"] for r in rows],
                              "completion": [r["completion"] for r in rows]})


def iwm_dataset(
    tokenizer: PreTrainedTokenizerBase, outcomes: Sequence[dict[str, Any]], view: ActorView
) -> Dataset:
    """Two rows per branched pair: the next observation after the expert's action and after
    the alternative."""
    prompts, completions = [], []
    for o in outcomes:
        state_text = render_state(pair_state(o), view.show_admissible)
        for action, outcome in ((o["expert_action"], o["expert_outcome"]),
                                (o["alternative"], o["alternative_outcome"])):
            prompts.append(world_model_prompt(tokenizer, state_text, action))
            completions.append(outcome.strip())
    if not prompts:
        raise ActrainError("the IWM stage has no branched pairs to learn from")
    return Dataset.from_dict({"prompt": prompts, "completion": completions})


def run_sr(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rationales: Sequence[dict[str, Any]],
    trajectories: Sequence[dict[str, Any]],
    inputs: SRInputs,
    out_dir: Path,
) -> Path:
    """SFT on rationale + expert action (mixed with IL); returns `out_dir/checkpoint`."""
    return run_sft(model, tokenizer, sr_dataset(tokenizer, rationales, trajectories, inputs),
                   inputs, out_dir)


def run_iwm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    outcomes: Sequence[dict[str, Any]],
    inputs: IWMInputs,
    out_dir: Path,
) -> Path:
    """SFT on next-observation prediction; returns `out_dir/checkpoint`."""
    return run_sft(model, tokenizer, iwm_dataset(tokenizer, outcomes, inputs.view), inputs,
                   out_dir)
