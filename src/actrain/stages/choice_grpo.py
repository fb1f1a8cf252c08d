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
`act.shared_prompt_pass` only allows it: `stages/act.py` turns it on for a prefilled index
answer of one token and switches it off by itself for anything else, rather than refusing the
config, since the default must hold for every format. A judgment that reasons, or one in
`critic.answer_format: action` (the action's text and "</action>": several tokens), is sampled
and scored by TRL itself, each token against its own prefix, up to the end of the turn or
`critic.max_new_tokens` (the rewards ignore what follows the closing tag); `choice/p_first`,
`choice/entropy` and `choice/answer_mass` are then not logged.

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

# TRL's documented extension points are `rollout_func` and subclassing; the two overridden methods
# below are the narrowest places where the group layout and the scoring of completions live.


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


def _plain_sampling(trainer: GRPOTrainer) -> bool:
    """The one-pass sampler draws from the full softmax at the trainer's temperature: only when
    nothing else shapes the distribution (top-k/top-p/min-p, a repetition penalty, which also
    counts the prompt's tokens, or extra `generation_kwargs`); otherwise TRL generates."""
    return (
        not trainer.use_vllm
        and trainer.top_p in (None, 1.0)
        and trainer.top_k in (None, 0)
        and trainer.min_p is None
        and getattr(trainer, "repetition_penalty", None) in (None, 1.0)
        and not getattr(trainer.args, "generation_kwargs", None)
        and trainer.temperature > 0
    )


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


@torch.no_grad()
def sample_one_token(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    temperature: float,
    tokenizer: Any,
    autocast: Any,
    answer_tokens: Sequence[int] | None = None,
) -> tuple[list[list[int]], list[list[float]], dict[str, float]]:
    """One next token per row, from one forward pass per *distinct* prompt.

    Returns completion ids, their log-probabilities (at `temperature`) and choice metrics when
    `answer_tokens` (the ids of "1" and "2") are given.
    """
    distinct = list(dict.fromkeys(tuple(r) for r in prompt_ids))
    where = {p: i for i, p in enumerate(distinct)}
    device = next(model.parameters()).device
    ids, mask = _left_pad(distinct, tokenizer.pad_token_id)
    was_training = model.training
    model.eval()
    with autocast():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       logits_to_keep=1).logits[:, -1, :]
    model.train(was_training)
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    index = torch.tensor([where[tuple(r)] for r in prompt_ids], device=logp.device)
    tokens = torch.multinomial(logp.exp()[index], 1).squeeze(1)
    chosen = logp[index, tokens]
    metrics: dict[str, float] = {}
    if answer_tokens is not None:
        probs = logp.exp()[:, list(answer_tokens)]  # [distinct, K]
        mass = probs.sum(-1)
        shares = probs / mass.clamp(min=1e-12).unsqueeze(-1)
        first = shares[:, 0]
        entropy = -(shares * shares.clamp(min=1e-12).log()).sum(-1)
        metrics = {
            "choice/p_first": first.mean().item(),
            "choice/entropy": entropy.mean().item(),
            "choice/answer_mass": mass.mean().item(),
        }
    return ([[t] for t in tokens.tolist()], [[v] for v in chosen.tolist()], metrics)


class ChoiceGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` that scores one-token completions with one pass per distinct prompt and can
    drop zero-variance groups from the loss. Everything else is TRL's own."""

    def __init__(self, *args: Any, shared_prompt_pass: bool = True,
                 filter_zero_variance: bool = False, **kwargs: Any) -> None:
        if isinstance(kwargs.get("rollout_func"), PairGroupRollout):
            check_trl_generation(type(self))  # before loading anything: fail at set-up
        super().__init__(*args, **kwargs)
        self.shared_prompt_pass = shared_prompt_pass
        self.filter_zero_variance = filter_zero_variance

    def _get_per_token_logps_and_entropies(  # noqa: ANN202 - TRL's signature
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,  # noqa: ANN001
        compute_entropy=False, compute_aux_loss=False, **multimodal,  # noqa: ANN001
    ):
        plain = all(v is None for v in multimodal.values()) and not compute_aux_loss
        if not (self.shared_prompt_pass and plain and logits_to_keep == 1):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **multimodal,
            )
        logps, entropies = shared_prompt_logps(
            model, input_ids, attention_mask, self.temperature, self.accelerator.autocast
        )
        return logps, (entropies if compute_entropy else None), None

    def _generate_and_score_completions(self, inputs):  # noqa: ANN001, ANN202 - TRL's signature
        output = super()._generate_and_score_completions(inputs)
        if self.filter_zero_variance and self.model.training:
            drop_zero_variance_groups(output, self.num_generations, self.accelerator.gather)
        return output


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


def shared_prompt_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    temperature: float,
    autocast: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability and entropy of each row's last token, one forward per distinct prompt.

    `input_ids` is prompt + a one-token completion per row. Rows with the same (left-padded)
    prompt share the forward pass; the gradient reaches every row through its shared prompt.
    """
    prompt = torch.cat([input_ids[:, :-1], attention_mask[:, :-1]], dim=1)
    distinct, inverse = torch.unique(prompt, dim=0, return_inverse=True)
    width = input_ids.size(1) - 1
    with autocast():
        logits = model(input_ids=distinct[:, :width], attention_mask=distinct[:, width:],
                       logits_to_keep=1).logits[:, -1, :]
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)
    tokens = input_ids[:, -1]
    return logp[inverse, tokens].unsqueeze(1), entropy[inverse].unsqueeze(1)


def answer_token_ids(tokenizer: Any, k: int = 2) -> list[int] | None:
    """The ids of the answers "1" .. "k", when each is a single token."""
    ids = [tokenizer(str(i), add_special_tokens=False)["input_ids"] for i in range(1, k + 1)]
    return [i[0] for i in ids] if all(len(i) == 1 for i in ids) else None

