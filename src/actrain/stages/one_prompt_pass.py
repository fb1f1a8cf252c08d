"""The one prompt pass for one-token choices: sampling and scoring each distinct shown prompt
once instead of once per sample (`act.shared_prompt_pass`; why and when in `choice_grpo.py`).

It is kept apart from the rollout and the trainer that call it because it is plain tensor work on
a model, testable on its own: the same per-token log-probabilities TRL would compute, at a
fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from trl import GRPOTrainer


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


# Several-token answers (`critic.answer_format: action`, a reasoning critic): the samples of one
# shown prompt share everything but their completions. The prompt's keys and values are computed
# once per distinct prompt and copied to its samples; only the completions are run per sample.
# Positions are the defaults TRL's own scoring uses (0.. over the padded row), so the cached
# prompt and the completion see exactly the positions of one full forward.


def prefix_pass_allowed(trainer: GRPOTrainer) -> bool:
    """The shared prefix needs one process (DDP, ZeRO and FSDP wrap a forward that must run once
    per backward, on every rank alike) and a cache the forward may keep (gradient checkpointing
    turns caching off)."""
    return (trainer.accelerator.num_processes == 1
            and not getattr(trainer.args, "gradient_checkpointing", False))


def _prompt_cache(model: Any, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                  autocast: Any) -> Any:
    """The keys and values of each distinct prompt but its last token, one forward for all, then
    copied to the rows that show it (`rows[i]`: row i's prompt). Indexing keeps the gradient: each
    row's loss reaches the prompt pass it shares."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    with autocast():
        model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], past_key_values=cache,
              use_cache=True, logits_to_keep=1)
    cache.batch_select_indices(rows)
    return cache


@torch.no_grad()
def sample_with_shared_prompts(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    temperature: float,
    tokenizer: Any,
    autocast: Any,
    max_new_tokens: int,
    eos_ids: Sequence[int],
) -> tuple[list[list[int]], list[list[float]]]:
    """Sample each row's completion from the full softmax at `temperature` (`_plain_sampling`),
    encoding each distinct prompt once. A completion ends with its first `eos_ids` token (kept,
    as TRL keeps it) or at `max_new_tokens`. Returns the completions and their log-probabilities."""
    distinct = list(dict.fromkeys(tuple(r) for r in prompt_ids))
    where = {p: i for i, p in enumerate(distinct)}
    device = next(model.parameters()).device
    ids, mask = _left_pad(distinct, tokenizer.pad_token_id)
    rows = torch.tensor([where[tuple(r)] for r in prompt_ids], device=device)
    ids, mask = ids.to(device), mask.to(device)
    was_training = model.training
    model.eval()
    cache = _prompt_cache(model, ids, mask, rows, autocast)
    mask, step_ids = mask[rows], ids[rows, -1:]
    eos = torch.tensor(list(eos_ids), device=device)
    done = torch.zeros(len(rows), dtype=torch.bool, device=device)
    tokens, logps = [], []
    for _ in range(max_new_tokens):
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        with autocast():
            logits = model(input_ids=step_ids, attention_mask=mask, past_key_values=cache,
                           use_cache=True, logits_to_keep=1).logits[:, -1, :]
        logp = torch.log_softmax(logits.float() / temperature, dim=-1)
        token = torch.multinomial(logp.exp(), 1).squeeze(1)
        tokens.append(torch.where(done, -1, token))
        logps.append(logp.gather(1, token[:, None]).squeeze(1))
        done |= torch.isin(token, eos)
        if bool(done.all()):
            break
        step_ids = token[:, None]
    model.train(was_training)
    grid, values = torch.stack(tokens, 1).tolist(), torch.stack(logps, 1).tolist()
    completions = [[t for t in row if t >= 0] for row in grid]
    return completions, [v[: len(c)] for v, c in zip(values, completions, strict=True)]


def shared_prefix_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_length: int,
    autocast: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probability and entropy of each row's completion (its last
    `completion_length` tokens), one prompt pass per distinct prompt; what TRL's
    `_get_per_token_logps_and_entropies` returns, through the fused LM head TRL adds to the model
    (its temperature included)."""
    width = input_ids.size(1) - completion_length
    prompt = torch.cat([input_ids[:, :width], attention_mask[:, :width]], dim=1)
    distinct, rows = torch.unique(prompt, dim=0, return_inverse=True)
    cache = _prompt_cache(model, distinct[:, :width], distinct[:, width:], rows, autocast)
    tail = input_ids[:, width - 1 :]  # the prompt's last token predicts the first answer token
    labels = tail.masked_fill(attention_mask[:, width - 1 :] == 0, -100)
    labels[:, 0] = -100
    with autocast():
        out = model(input_ids=tail, attention_mask=attention_mask, past_key_values=cache,
                    labels=labels, fused_lm_head=True)
    return out.log_probs, out.entropy
