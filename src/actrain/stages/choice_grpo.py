"""GRPO for the two-action choice, robust to position bias: TRL's `GRPOTrainer` plus two hooks.

**Pair groups** (`PairGroupRollout`, TRL's `rollout_func`). A training row is a *pair*; the G
samples of its GRPO group show the pair in both orders, G/2 with the expert's action first and
G/2 with it second. TRL normalises rewards within the group, so both orders share one baseline.
A policy that always names the same position is then right on one half of the group and wrong on
the other: the group has variance, and the gradient pushes the position up where it holds the
expert's action and down where it does not, i.e. towards the content. With one prompt per group
(TRL's default) such a policy gets all-right or all-wrong groups, zero advantage and no way out:
the position collapse measured in `docs/results/twc-act.md`.

**One prompt pass** (`ChoiceGRPOTrainer`). In direct-choice mode (`critic.reasoning: false`,
`critic.max_new_tokens: 1`) a completion is one token, so the samples of one shown prompt differ
only in that token. Sampling then takes one forward pass per distinct shown prompt, and the
training loss scores every sample from its prompt's last-position distribution, instead of
encoding the same prompt G times: the same per-token log-probabilities at a fraction of the cost.
An answer of several tokens (`critic.answer_format: action`: the action's text and "</action>";
a judgment that reasons) shares its prompt too, in one process (`prefix_pass`): each distinct
prompt's keys and values are computed once and copied to its samples, which run only their
completions, for sampling and for the loss alike; TRL's own log-probabilities, through the
fused head TRL adds. Under several processes (a wrapped forward must run once per backward) or
gradient checkpointing (no cache) TRL samples and scores every completion itself, up to the end
of the turn or `critic.max_new_tokens` (the rewards ignore what follows the closing tag).
`act.shared_prompt_pass` only allows all this; `choice/p_first`, `choice/entropy` and
`choice/answer_mass` are logged for one-token answers.

Zero-variance groups (every reward function's weighted total equal across the group: all right,
all wrong, all malformed, ...) carry no advantage. With `act.zero_variance: filter` they are
dropped from the loss's token count, so they do not dilute the groups that do teach; with
`resample` (DAPO's dynamic sampling, inside the rollout) such a group is replaced by
another pair from the training set, up to `act.resample_tries` times (one generation call per
try for all flat groups, the same calls on every process), and the share of replaced groups is
logged as `choice/resampled_groups`. Extra metrics, logged every step:
`choice/p_first` (position preference: the probability of naming position 1),
`choice/entropy` (of the choice among the K positions, in nats) and `choice/answer_mass`
(probability on a valid answer), besides the weight-0 reward metrics of `actrain.rewards`.

The rollout lives in `pair_groups.py`, the one prompt pass in `one_prompt_pass.py`; this module
is the trainer that runs them, and its public names are importable from here.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer

from actrain.stages.one_prompt_pass import (
    answer_token_ids,
    prefix_pass_allowed,
    shared_prefix_logps,
    shared_prompt_logps,
)
from actrain.stages.pair_groups import (
    FLAT_ATOL,
    PairGroupRollout,
    check_trl_generation,
    flat_rewards,
)

__all__ = ["ChoiceGRPOTrainer", "PairGroupRollout", "answer_token_ids",
           "drop_zero_variance_groups", "flat_rewards", "shared_prompt_logps"]

# TRL's documented extension points are `rollout_func` and subclassing; the two overridden methods
# below are the narrowest places where the group layout and the scoring of completions live.


class ChoiceGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` that scores one-token completions with one pass per distinct prompt and can
    drop zero-variance groups from the loss. Everything else is TRL's own."""

    def __init__(self, *args: Any, shared_prompt_pass: bool = True,
                 filter_zero_variance: bool = False, **kwargs: Any) -> None:
        if isinstance(kwargs.get("rollout_func"), PairGroupRollout):
            check_trl_generation(type(self))  # before loading anything: fail at set-up
        super().__init__(*args, **kwargs)
        self.shared_prompt_pass = shared_prompt_pass
        # several-token completions share their prompt's pass where the set-up allows a cache
        self.prefix_pass = shared_prompt_pass and prefix_pass_allowed(self)
        self.filter_zero_variance = filter_zero_variance

    def _get_per_token_logps_and_entropies(  # noqa: ANN202 - TRL's signature
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,  # noqa: ANN001
        compute_entropy=False, compute_aux_loss=False, **multimodal,  # noqa: ANN001
    ):
        plain = all(v is None for v in multimodal.values()) and not compute_aux_loss
        if self.shared_prompt_pass and plain and logits_to_keep == 1:
            logps, entropies = shared_prompt_logps(
                model, input_ids, attention_mask, self.temperature, self.accelerator.autocast
            )
        elif self.prefix_pass and plain:
            logps, entropies = shared_prefix_logps(
                model, input_ids, attention_mask, logits_to_keep, self.accelerator.autocast
            )
        else:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **multimodal,
            )
        return logps, (entropies if compute_entropy else None), None

    def _generate_and_score_completions(self, inputs):  # noqa: ANN001, ANN202 - TRL's signature
        output = super()._generate_and_score_completions(inputs)
        if self.filter_zero_variance and self.model.training:
            drop_zero_variance_groups(output, self.num_generations, self.accelerator.gather)
        return output


def drop_zero_variance_groups(output: dict[str, Any], size: int, gather: Any) -> None:
    """Mask groups without advantage out of the loss, and recount its tokens.

    Their gradient is zero anyway; masking keeps them out of the token count that normalises the
    loss (TRL's `num_items_in_batch`), so they do not dilute the groups that carry signal.

    A group is flat when its rewards are all equal; only its advantages are seen here. Its rows
    then share one advantage: zero up to float rounding (`rewards - mean` is ~1e-8, not 0, for
    rewards like 0.1), or that rounding divided by a tiny std under `scale_rewards: group`
    (~1e-4). Rows TRL could not score have exactly 0. So a group is flat when its nonzero
    advantages agree within a tolerance (as TRL tests its zero std with `torch.isclose`): a group
    with signal has advantages of both signs, as they sum to zero.
    """
    advantages = output["advantages"]
    if advantages.numel() % size:
        return
    grouped = advantages.detach().float().view(-1, size)
    scored = grouped != 0
    high = torch.where(scored, grouped, -torch.inf).max(dim=1).values
    low = torch.where(scored, grouped, torch.inf).min(dim=1).values
    spread = torch.where(scored.any(dim=1), high - low, torch.zeros_like(high))
    dead = torch.isclose(spread, torch.zeros_like(spread), atol=FLAT_ATOL)
    keep = (~dead).repeat_interleave(size).to(output["completion_mask"].dtype)
    output["completion_mask"] = output["completion_mask"] * keep.unsqueeze(1)
    output["num_items_in_batch"] = gather(output["completion_mask"].sum()).sum()
