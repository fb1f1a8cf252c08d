"""Pair groups, the GRPO group layout that makes a position preference learnable away from:
TRL's `rollout_func` for the ACT stage (`act.advantage_group: pair`), with its resampling of
groups that carry no advantage (`act.zero_variance: resample`).

Why a group shows one pair in both orders, and how flat groups are resampled, is told in
`choice_grpo.py`, beside the trainer that runs this rollout; this module is the rollout itself
and the checks it needs (which rewards are flat, whether TRL's private generation method still
takes the arguments it passes).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
import trl
from trl import GRPOTrainer

from actrain.errors import ActrainError
from actrain.runtime import distributed
from actrain.runtime.distributed import all_max
from actrain.stages.one_prompt_pass import (
    _plain_sampling,
    sample_one_token,
    sample_with_shared_prompts,
)


class PairGroupRollout:
    """TRL `rollout_func`: every group of G rows shows one pair, half in each order.

    `pairs` maps a row's prompt (the expert-first rendering) to the pair's two renderings and its
    actions in expert-first order. The returned extra fields (`actions`, `label`, `expert_first`,
    `mirror`: the row showing the same pair in the other order) reach the reward functions.
    """

    def __init__(
        self,
        pairs: dict[str, dict[str, Any]],
        tokenizer: Any,
        num_generations: int,
        one_token: bool,
        answer_tokens: Sequence[int] | None = None,
        correct: Callable[[list[str], list[list[str]], list[int]], list[bool]] | None = None,
        resample_tries: int = 0,
        seed: int = 0,
    ) -> None:
        k = len(next(iter(pairs.values()))["prompts"]) if pairs else 2
        if num_generations < k or num_generations % k:
            raise ActrainError(
                f"act.num_generations must be even for pair groups (a multiple of {k}: the same "
                f"share of a group for each position of the expert's action), got "
                f"{num_generations}"
            )
        self.pairs, self.tokenizer, self.num_generations = pairs, tokenizer, num_generations
        self.share = num_generations // k  # rows of a group showing one rotation
        self.one_token, self.answer_tokens = one_token, answer_tokens
        if resample_tries and correct is None:
            raise ActrainError("resampling zero-variance groups needs a correctness check")
        self.correct, self.resample_tries = correct, resample_tries
        # Each process draws its own replacement pairs (the same draws would duplicate groups).
        rank = distributed.rank()
        self.rng = random.Random(seed if rank == 0 else f"{seed}/{rank}")
        self.keys = list(pairs)
        self.resampled_pairs = 0  # pairs drawn to replace flat groups (ACT's `length.json`)
        self._ids: dict[str, list[int]] = {}

    def _tokens(self, prompt: str) -> list[int]:
        if prompt not in self._ids:
            self._ids[prompt] = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return self._ids[prompt]

    def group(self, key: str) -> dict[str, list[Any]]:
        """One group's rows for the pair rendered as `key`: the first half expert-first (K-way:
        a K-th of the group with the expert's action at each position, in order)."""
        from actrain.data.kway import rotation

        pair = self.pairs[key]
        rows: dict[str, list[Any]] = {"shown": [], "actions": [], "label": [], "expert_first": []}
        for j in range(self.num_generations):
            r = j // self.share
            rows["shown"].append(pair["prompts"][r])
            rows["actions"].append(rotation(pair["actions"], r))
            rows["label"].append(r)
            rows["expert_first"].append(r == 0)
        return rows

    def layout(self, prompts: Sequence[Any]) -> dict[str, list[Any]]:
        """Which order each row shows, and each row's mirror (same pair, other order; K-way:
        the next rotation)."""
        size, half = self.num_generations, self.share
        if len(prompts) % size:
            raise ActrainError(f"{len(prompts)} rows do not split into groups of {size}")
        rows: dict[str, list[Any]] = {
            "shown": [], "actions": [], "label": [], "expert_first": [], "mirror": []
        }
        for start in range(0, len(prompts), size):
            key = prompts[start]
            if any(p != key for p in prompts[start : start + size]) or key not in self.pairs:
                raise ActrainError("a GRPO group does not hold one known pair: pair groups need "
                                   "TRL's grouped sampler and the ACT pair dataset")
            for name, values in self.group(key).items():
                rows[name] += values
            rows["mirror"] += [start + (j + half) % size for j in range(size)]
        return rows

    def _complete(
        self, trainer: GRPOTrainer, prompt_ids: list[list[int]], log: bool
    ) -> tuple[list[list[int]], list[list[float]] | None]:
        if self.one_token and _plain_sampling(trainer):
            completion_ids, logprobs, metrics = sample_one_token(
                trainer.model, prompt_ids, trainer.temperature, trainer.processing_class,
                trainer.accelerator.autocast, self.answer_tokens,
            )
            for name, value in metrics.items() if log else ():
                trainer._log_metric(name, value)  # averaged with TRL's own per-step metrics
            return completion_ids, logprobs
        if getattr(trainer, "prefix_pass", False) and _plain_sampling(trainer):
            return sample_with_shared_prompts(
                trainer.model, prompt_ids, trainer.temperature, trainer.processing_class,
                trainer.accelerator.autocast, trainer.max_completion_length, trainer.eos_token_ids,
            )
        # TRL's own generation (transformers or vLLM). The rows already hold every sample of a
        # group, in two orders: one completion per row (with G, vLLM server mode would keep only
        # every G-th row and sample it G times, losing the second order).
        return trainer._generate_single_turn(
            prompt_ids=prompt_ids, images=None, multimodal_fields={}, num_generations=1
        )

    def _totals(self, trainer: GRPOTrainer, prompts: list[str],
                completion_ids: list[list[int]], rows: dict[str, list[Any]]) -> list[float]:
        """Each row's reward as TRL will compute it: every reward function called as
        `_calculate_rewards` calls it, None as NaN, weighted and NaN-summed; NaN for a row no
        function scores (TRL keeps it out of the baseline). Format failures, wrong answers and
        the consistency reward all count. A stand-in trainer without reward functions falls back
        to the correctness check."""
        texts = trainer.processing_class.batch_decode(completion_ids, skip_special_tokens=True)
        funcs = getattr(trainer, "reward_funcs", None)
        if not funcs:
            return [float(r) for r in self.correct(texts, rows["actions"], rows["label"])]
        columns = {**rows, "trainer_state": getattr(trainer, "state", None),
                   "log_extra": _ignore, "log_metric": _ignore}
        per_func = torch.empty(len(texts), len(funcs))
        for i, func in enumerate(funcs):
            if isinstance(func, torch.nn.Module):
                raise ActrainError("act.zero_variance: resample needs reward functions, not a "
                                   "reward model: use act.zero_variance: filter")
            values = func(prompts=prompts, completions=texts, completion_ids=completion_ids,
                          **columns)
            if inspect.isawaitable(values):
                values = asyncio.run(values)
            per_func[:, i] = torch.tensor([math.nan if v is None else float(v) for v in values])
        weights = torch.as_tensor(trainer.reward_weights, dtype=per_func.dtype).cpu()
        totals = (per_func * weights).nansum(dim=1)
        totals[per_func.isnan().all(dim=1)] = math.nan
        return totals.tolist()

    def _flat(self, trainer: GRPOTrainer, prompts: list[str], completion_ids: list[list[int]],
              rows: dict[str, list[Any]], starts: Sequence[int]) -> list[int]:
        """The groups (by first row) among `starts` that carry no advantage: the rewards of
        their scored rows are all equal, up to float rounding (`flat_rewards`)."""
        size = self.num_generations
        where = [j for s in starts for j in range(s, s + size)]
        picked = {name: [values[j] for j in where] for name, values in rows.items()}
        if "mirror" in picked:  # row indices within the batch: rebase them to the picked rows
            position = {j: k for k, j in enumerate(where)}
            picked["mirror"] = [position[m] for m in picked["mirror"]]
        totals = self._totals(trainer, [prompts[j] for j in where],
                              [completion_ids[j] for j in where], picked)
        return [s for i, s in enumerate(starts)
                if flat_rewards(totals[i * size : (i + 1) * size])]

    def _resample(self, trainer: GRPOTrainer, rows: dict[str, list[Any]], prompts: list[str],
                  prompt_ids: list[list[int]], completion_ids: list[list[int]],
                  logprobs: list[list[float]] | None) -> None:
        """Replace groups without advantage (all rewards equal) by other pairs, in place (DAPO's
        dynamic sampling); `prompts` are the shown prompts. The rows TRL logs as prompts keep the
        original pair's text.

        Each try samples the replacements of all flat groups in one generation call. Under
        ZeRO-3/FSDP, vLLM server mode or vLLM TP>1 that call is a collective, so every process
        makes it while any process has a flat group left, with the same number of rows: a process
        with fewer flat groups pads with its own prompts and discards their completions.
        """
        size = self.num_generations
        starts = range(0, len(prompt_ids), size)
        flat = self._flat(trainer, prompts, completion_ids, rows, starts)
        replaced = len(flat)
        for attempt in range(self.resample_tries):
            if attempt:
                flat = self._flat(trainer, prompts, completion_ids, rows, flat)
            most = all_max(len(flat), trainer.accelerator.device)
            if not most:
                break
            fresh = [self.group(self.rng.choice(self.keys)) for _ in flat]
            self.resampled_pairs += len(fresh)
            shown = [p for group in fresh for p in group.pop("shown")]
            ids = [self._tokens(p) for p in shown]
            padding = [prompt_ids[j % len(prompt_ids)] for j in range(most * size - len(ids))]
            new_ids, new_logprobs = self._complete(trainer, ids + padding, log=False)
            for i, (start, group) in enumerate(zip(flat, fresh, strict=True)):
                where, mine = slice(start, start + size), slice(i * size, (i + 1) * size)
                prompt_ids[where], completion_ids[where] = ids[mine], new_ids[mine]
                prompts[where] = shown[mine]
                if logprobs is not None and new_logprobs is not None:
                    logprobs[where] = new_logprobs[mine]
                for name, values in group.items():
                    rows[name][where] = values
        trainer._log_metric("choice/resampled_groups", replaced / max(len(starts), 1))

    def __call__(self, prompts: list[Any], trainer: GRPOTrainer) -> dict[str, Any]:
        rows = self.layout(prompts)
        shown = rows.pop("shown")
        prompt_ids = [self._tokens(p) for p in shown]
        completion_ids, logprobs = self._complete(trainer, prompt_ids, log=True)
        if self.resample_tries:
            completion_ids = list(completion_ids)
            logprobs = None if logprobs is None else list(logprobs)
            self._resample(trainer, rows, shown, prompt_ids, completion_ids, logprobs)
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids,
                "logprobs": logprobs, **rows}


def _ignore(*_: Any, **__: Any) -> None:
    """Stands in for TRL's `log_extra` / `log_metric` while rewards are only checked for
    flatness: TRL logs them when it scores the final rows."""


# Rewards or advantages this close are equal: float32 rounding of a group mean leaves ~1e-8 per
# unit of reward, far below any difference between reward values.
FLAT_ATOL = 1e-6


def flat_rewards(totals: Sequence[float]) -> bool:
    """Whether a group's rewards give it no advantage: its scored (non-NaN) rows all agree, up to
    float rounding (`math.isclose`, as TRL's own zero-std test is `torch.isclose`). A group with
    at most one scored row has none either."""
    scored = [t for t in totals if not math.isnan(t)]
    return all(math.isclose(t, scored[0], rel_tol=1e-5, abs_tol=FLAT_ATOL) for t in scored)


# The parameters `PairGroupRollout._complete` passes, by name, to TRL's private generation method.
_GENERATION_PARAMS = {"prompt_ids", "images", "multimodal_fields", "num_generations"}


def check_trl_generation(trainer_cls: type) -> None:
    """Pair groups call TRL's private `_generate_single_turn`: refuse a TRL whose signature
    differs, at set-up rather than at the first flat group mid-training."""
    params = inspect.signature(trainer_cls._generate_single_turn).parameters
    by_name = {n for n, p in params.items()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = {n for n, p in params.items() if p.default is p.empty} - {"self"}
    if not required <= _GENERATION_PARAMS <= by_name:
        raise ActrainError(f"pair-group ACT needs trl==1.16.0: GRPOTrainer._generate_single_turn "
                           f"takes other arguments in the installed trl {trl.__version__}")
