"""How likely a policy is to write given continuations of a prompt (each admissible action,
for alternatives drawn from the policy's scores).

It is the other use of a model besides sampling (`generation.py`): one pass over the prompt,
its KV cache copied for every continuation, the same on the HF model or a `VLLMEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from actrain.runtime.device import autocast as autocast_on


@torch.no_grad()
def continuation_logprobs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    continuations: Sequence[str],
    autocast: str = "float32",
) -> list[float]:
    """Total log-probability of each continuation after `prompt`, the prompt encoded once.

    The prompt's KV cache is copied for the continuations, which are scored in one right-padded
    batch: one pass over the prompt however many continuations there are.
    """
    if hasattr(model, "llm"):  # a VLLMEngine
        return model.continuation_logprobs(tokenizer, prompt, continuations)
    return _continuation_logprobs_hf(model, tokenizer, prompt, continuations, autocast)


def score_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    continuations: Sequence[Sequence[str]],
    autocast: str = "float32",
    desc: str = "scoring",
    progress: bool = True,
) -> list[list[float]]:
    """`continuation_logprobs` of each prompt's own continuations.

    A `VLLMEngine` takes many prompts a call, so its scheduler batches them; the HF model
    scores one prompt at a time, its prompt encoded once for all its continuations.
    """
    if hasattr(model, "llm"):  # a VLLMEngine
        return model.score_continuations(tokenizer, prompts, continuations)
    pairs = zip(prompts, continuations, strict=True)
    return [_continuation_logprobs_hf(model, tokenizer, prompt, conts, autocast)
            for prompt, conts in tqdm(pairs, total=len(prompts), desc=desc, unit="prompt",
                                      leave=False, disable=not progress)]


@torch.no_grad()
def _continuation_logprobs_hf(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompt: str,
    continuations: Sequence[str], autocast: str,
) -> list[float]:
    if not continuations:
        return []
    model.eval()
    device = next(model.parameters()).device
    prompt_ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    conts = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
    width = max(len(c) for c in conts)
    ids = torch.full((len(conts), width), tokenizer.pad_token_id, dtype=torch.long)
    valid = torch.zeros((len(conts), width), dtype=torch.bool)
    for i, c in enumerate(conts):
        ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        valid[i, : len(c)] = True
    cache = DynamicCache(config=model.config)
    with autocast_on(autocast, device):
        first = model(input_ids=prompt_ids.to(device), past_key_values=cache, use_cache=True,
                      logits_to_keep=1).logits[:, -1, :]
        cache.batch_repeat_interleave(len(conts))
        length = prompt_ids.shape[1]
        mask = torch.cat([torch.ones(len(conts), length, dtype=torch.long), valid.long()], dim=1)
        positions = torch.arange(length, length + width).expand(len(conts), -1)
        rest = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                     position_ids=positions.to(device), past_key_values=cache,
                     use_cache=True).logits
    logits = torch.cat([first.expand(len(conts), -1).unsqueeze(1), rest[:, :-1]], dim=1)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.to(device).unsqueeze(-1))
    return (logp.squeeze(-1) * valid.to(device)).sum(-1).tolist()
