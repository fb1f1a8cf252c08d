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
