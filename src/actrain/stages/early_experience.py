"""Early Experience's baselines (Zhang et al. 2025, arXiv 2510.08558), on the same pairs as ACT.

Both learn from where the pair's actions lead (`data/branches.py` plays each from the pair's
state) and both are SFT through TRL's `SFTTrainer` (`stages.il.run_sft`):

- **Self-reflection** (`sr`): a teacher explained why the expert's action is better than all of
  the state's alternatives, given every outcome (`data/rationales.py`: one reflection a state over
  its `alternatives.per_state` alternatives, read from the teacher's answer, never its thinking);
  the agent is trained to write that rationale, then the expert's action, on the agent prompt
  that asks it to think first. With `sr.mix_il` the plain IL rows (the run's own agent view) are
  mixed in, as the paper does. Rollouts use the run's view (`data.actor_reasoning`): Early
  Experience's agent writes its reasoning, then its action, so the faithful row is `sr` in a run
  whose agent reasons (the 8B configs) or `sr-cot` in one whose agent does not; plain `sr` there
  never writes the rationale it was trained on, which then shapes the model through training only.
- **Implicit world modelling** (`iwm`): the agent is trained to predict the observation the game
  returned after the expert's action and after the alternative; the method is `iwm_il`, world
  modelling then IL, as in the paper.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.config.schema import RunConfig
from actrain.errors import ActrainError
from actrain.prompts import (
    THINK_CLOSE,
    ActorView,
    pair_state,
    thinking_prefix,
    world_model_prompt,
)
from actrain.records import Outcome, Rationale, Trajectory
from actrain.stages.il import il_dataset, run_sft, sft_config
from actrain.stages.inputs import IWMInputs, SRInputs, TrainerSettings, actor_view
from actrain.stages.registry import PlanWork, Stage, StageData


def sr_target(tokenizer: PreTrainedTokenizerBase, prompt: str, rationale: str, action: str) -> str:
    """What SR trains the agent to write after `prompt`: the rationale as its reasoning, then
    the expert's action.

    A thinking model reasons inside its thinking block, so there the rationale is the block's
    content (the template's own block, `prompts.thinking_prefix`, as IL's targets open with it
    empty): written as plain text, it would teach the model to drop the block, and its own
    reasoning at test time would not be where SR put the rationale. A template without thinking
    gets the rationale as plain text.
    """
    block = thinking_prefix(tokenizer, prompt)
    end = block.lower().rfind(THINK_CLOSE)
    if end < 0:
        return f"{rationale}\n<action>{action}</action>"
    head = block[:end].rstrip("\n")
    opening = f"{head}\n" if head else ""
    return f"{opening}{rationale}\n{block[end:]}<action>{action}</action>"


def sr_rows(
    tokenizer: PreTrainedTokenizerBase, rationales: Sequence[Rationale], view: ActorView
) -> list[dict[str, str]]:
    """One row per usable rationale: the thinking agent prompt, then rationale + expert action
    (`sr_target`).

    A rationale covers all of its state's alternatives, so a state is one row however many it has.
    """
    rows = []
    thinking = dataclasses.replace(view, reasoning=True)
    for r in Rationale.coerce_all(rationales):
        if not r.rationale:
            continue
        prompt = thinking.prompt(tokenizer, pair_state(r))
        rows.append({"prompt": prompt,
                     "completion": sr_target(tokenizer, prompt, r.rationale, r.expert_action)})
    return rows


def sr_dataset(
    tokenizer: PreTrainedTokenizerBase,
    rationales: Sequence[Rationale],
    trajectories: Sequence[Trajectory],
    inputs: SRInputs,
) -> Dataset:
    rows = sr_rows(tokenizer, rationales, inputs.view)
    if not rows:
        raise ActrainError("the SR stage has no usable rationales (every teacher answer was "
                           "empty after cleaning; a thinking teacher needs sr.max_new_tokens to "
                           "close its thinking: see rationales/stats.json and train.jsonl)")
    if inputs.sr.mix_il:
        il = il_dataset(tokenizer, trajectories, inputs.view)
        rows += [{"prompt": p, "completion": c}
                 for p, c in zip(il["prompt"], il["completion"], strict=True)]
    return Dataset.from_dict({"prompt": [r["prompt"] for r in rows],
                              "completion": [r["completion"] for r in rows]})


def iwm_dataset(
    tokenizer: PreTrainedTokenizerBase, outcomes: Sequence[Outcome], view: ActorView
) -> Dataset:
    """Two rows per branched pair: the next observation after the expert's action and after
    the alternative."""
    prompts, completions = [], []
    for o in Outcome.coerce_all(outcomes):
        state_text = view.text(pair_state(o))
        for action, outcome in ((o.expert_action, o.expert_outcome),
                                (o.alternative, o.alternative_outcome)):
            prompts.append(world_model_prompt(tokenizer, state_text, action))
            completions.append(outcome.strip())
    if not prompts:
        raise ActrainError("the IWM stage has no branched pairs to learn from")
    return Dataset.from_dict({"prompt": prompts, "completion": completions})


def run_sr(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rationales: Sequence[Rationale],
    trajectories: Sequence[Trajectory],
    inputs: SRInputs,
    out_dir: Path,
) -> Path:
    """SFT on rationale + expert action (mixed with IL); returns `out_dir/checkpoint`."""
    return run_sft(model, tokenizer, sr_dataset(tokenizer, rationales, trajectories, inputs),
                   inputs, out_dir)


def run_iwm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    outcomes: Sequence[Outcome],
    inputs: IWMInputs,
    out_dir: Path,
) -> Path:
    """SFT on next-observation prediction; returns `out_dir/checkpoint`."""
    return run_sft(model, tokenizer, iwm_dataset(tokenizer, outcomes, inputs.view), inputs,
                   out_dir)


def _sr_inputs(config: RunConfig, name: str, trainer: TrainerSettings) -> SRInputs:
    return SRInputs(config.sr, actor_view(config), trainer)


def _iwm_inputs(config: RunConfig, name: str, trainer: TrainerSettings) -> IWMInputs:
    return IWMInputs(config.iwm, actor_view(config), trainer)


def _train_sr(model: Any, tokenizer: Any, inputs: SRInputs, data: StageData,
              out: Path) -> Path:
    return run_sr(model, tokenizer, data.rationales(), data.trajectories(), inputs, out)


def _train_iwm(model: Any, tokenizer: Any, inputs: IWMInputs, data: StageData,
               out: Path) -> Path:
    return run_iwm(model, tokenizer, data.outcomes(), inputs, out)


def _plan_sr(config: RunConfig, name: str, states: float) -> PlanWork:
    """One reflection a state (plus the IL rows with `sr.mix_il`): a rationale and an action."""
    return PlanWork(grpo=False, settings=config.sr,
                    rows=states + (states if config.sr.mix_il else 0),
                    completion=config.sr.max_new_tokens + 16)


def _plan_iwm(config: RunConfig, name: str, states: float) -> PlanWork:
    """Two observations a pair: after the expert's action and after the alternative."""
    return PlanWork(grpo=False, settings=config.iwm,
                    rows=2 * states * config.alternatives.per_state, completion=64)


STAGES = (Stage("sr", "sr", _sr_inputs, "rationales", sft_config, _train_sr, _plan_sr),
          Stage("iwm", "iwm", _iwm_inputs, "outcomes", sft_config, _train_iwm, _plan_iwm))
