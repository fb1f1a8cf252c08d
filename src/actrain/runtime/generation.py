"""Batched text generation shared by alternative sampling, critic evaluation and rollouts, and
the KV-cache sharing that makes it cheap (a prompt encoded once for its samples, a batch's common
start encoded once for its rows).

Prompts are sorted by length and cut into batches, so padding stays small; results come back in
the input order. Inputs go to the model's device; `autocast` is the run's compute dtype
(`actrain.runtime.device`). The stop rule is `stopping.StopOnText`; the scoring of given
continuations is `scoring.py` (both importable from here too).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm import tqdm
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from actrain.prompts import opens_thinking
from actrain.runtime.device import autocast as autocast_on
from actrain.runtime.scoring import continuation_logprobs, score_continuations
from actrain.runtime.stopping import StopOnText

__all__ = ["StopOnText", "continuation_logprobs", "generate", "score_continuations"]


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    num_samples: int = 1,
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    batch_size: int = 16,
    stop: Sequence[str] = (),
    autocast: str = "float32",
    seed: int | None = None,
    desc: str = "generating",
    share_prefix: bool = True,
    progress: bool = True,
    synced: bool = False,
    common_prefix: bool = False,
) -> list[list[str]]:
    """Sample `num_samples` completions for each prompt; `temperature=0` means greedy.

    `top_p` and `top_k` (0 = off) shape sampling, as thinking models' cards ask (Qwen3:
    temperature 0.6, top_p 0.95, top_k 20); greedy decoding ignores them.

    With `share_prefix`, each prompt is encoded once and its KV cache copied for the samples,
    instead of re-encoding the prompt per sample (prompt encoding dominates on a CPU).
    Returns one list of completions per prompt (special tokens stripped). `model` may be a
    `VLLMEngine` (`generation.backend: vllm`), which does the same with vLLM.

    `synced`: every process decodes until all are done (`synced_gpus`), for a model whose
    forward is a collective (ZeRO-3, FSDP). The processes must then pass as many prompts each,
    so that they make the same calls (`distributed.map_sharded(..., even=True)`).

    `common_prefix` (one sample a prompt): the tokens every prompt of a batch starts with (a
    system prompt, a task) are encoded once and their KV cache copied to every row; the rest of
    each prompt is left-padded after them. Positions follow the unpadded prompts, so the result
    is what encoding each prompt whole computes, up to floating-point order.
    """
    if hasattr(model, "llm"):  # a VLLMEngine
        return model.generate(tokenizer, prompts, num_samples, max_new_tokens, temperature,
                              top_p, stop, seed, top_k=top_k)
    device = next(model.parameters()).device
    # A seeded call must not reset the caller's random stream (GRPO's sampling, when the critic
    # curve evaluates in the middle of training): the generator is forked and restored.
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        if seed is not None:
            torch.manual_seed(seed)
        return _generate_hf(model, tokenizer, prompts, num_samples, max_new_tokens, temperature,
                            top_p, batch_size, stop, autocast, desc, share_prefix, progress,
                            synced, top_k, common_prefix)


def _generate_hf(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
    num_samples: int, max_new_tokens: int, temperature: float, top_p: float, batch_size: int,
    stop: Sequence[str], autocast: str, desc: str, share_prefix: bool, progress: bool,
    synced: bool = False, top_k: int = 0, common_prefix: bool = False,
) -> list[list[str]]:
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[list[str]] = [[] for _ in prompts]
    per_batch = max(1, batch_size // max(1, num_samples))
    device = next(model.parameters()).device
    sampling = temperature > 0
    batches = range(0, len(order), per_batch)
    for start in tqdm(batches, desc=desc, unit="batch", leave=False, disable=not progress):
        idx = order[start : start + per_batch]
        encoded = tokenizer(
            [prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(device)
        kwargs = {
            "max_new_tokens": max_new_tokens,
            "do_sample": sampling,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if synced:  # transformers would not know it for FSDP2 as accelerate applies it
            kwargs["synced_gpus"] = True
        shared = _common_prefix_len(encoded) if common_prefix and num_samples == 1 and \
            not synced else 0
        if shared:
            with autocast_on(autocast, device):
                inputs = _common_prefix_inputs(model, dict(encoded), shared,
                                               tokenizer.pad_token_id or 0)
        elif share_prefix and num_samples > 1 and encoded["input_ids"].shape[1] > 1:
            with autocast_on(autocast, device):
                inputs = _shared_prefix_inputs(model, dict(encoded), num_samples)
        else:
            inputs = {k: v.repeat_interleave(num_samples, dim=0) for k, v in encoded.items()}
        if sampling:
            # Set even when off: a model's generation_config (Qwen3: top_k 20) must not apply
            # settings the caller did not ask for.
            kwargs.update(temperature=temperature, top_k=top_k, top_p=top_p)
        if stop:
            prompt_len = inputs["input_ids"].shape[1]
            think_open = [opens_thinking(prompts[i]) for i in idx for _ in range(num_samples)]
            kwargs["stopping_criteria"] = [
                StopOnText(tokenizer, stop, prompt_len, think_open=think_open)
            ]
        with autocast_on(autocast, device):
            output = model.generate(**inputs, **kwargs)
        texts = tokenizer.batch_decode(
            output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )
        for j, i in enumerate(idx):
            results[i] = texts[j * num_samples : (j + 1) * num_samples]
    return results


# Fewer shared tokens than this are encoded with the rest (copying a cache costs more).
MIN_COMMON_PREFIX = 8
# On a CPU, a batch whose rows' own tokens are more than this share padding has each row encoded
# on its own (`_rows_encoded_alone`): a call per row costs less than the padding then. Batches
# of prompts sorted by length (next-action states) pad less, and stay batched.
ROWS_ALONE_PADDING = 0.15


def _common_prefix_len(encoded: dict[str, torch.Tensor]) -> int:
    """How many tokens every row of a left-padded batch starts with, leaving each row at least
    one token of its own; 0 when under `MIN_COMMON_PREFIX` or the batch is one row."""
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    lengths = mask.sum(-1)
    if ids.shape[0] < 2 or not bool((mask.flip(-1).cumprod(-1).sum(-1) == lengths).all()):
        return 0  # one row, or padding that is not all on the left
    width = ids.shape[1]
    shortest = int(lengths.min())
    starts = width - lengths  # where each row's tokens begin
    rows = torch.stack([ids[r, int(s) : int(s) + shortest] for r, s in enumerate(starts)])
    same = (rows == rows[:1]).all(0).long().cumprod(0).sum()
    shared = min(int(same), shortest - 1)
    return shared if shared >= MIN_COMMON_PREFIX else 0


def _common_prefix_inputs(
    model: PreTrainedModel, encoded: dict[str, torch.Tensor], shared: int, pad_id: int
) -> dict[str, torch.Tensor | DynamicCache]:
    """The batch as [shared prefix | left padding | each row's own tokens], with the prefix
    encoded once (one row) and its KV cache copied to every row; the attention mask hides the
    padding, so `generate`'s positions (the mask's running count) are each prompt's own."""
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    rows, width = ids.shape
    lengths = mask.sum(-1)
    starts = width - lengths
    prefix = ids[:1, int(starts[0]) : int(starts[0]) + shared]
    cache = DynamicCache(config=model.config)
    model(input_ids=prefix, past_key_values=cache, use_cache=True, logits_to_keep=1)
    owns = [ids[r, int(starts[r]) + shared :] for r in range(rows)]
    rest = max(own.shape[0] for own in owns)  # the longest row's own tokens
    new_ids = ids.new_full((rows, shared + rest), pad_id)
    new_mask = mask.new_zeros((rows, shared + rest))
    new_ids[:, :shared] = prefix
    new_mask[:, :shared] = 1
    for r, own in enumerate(owns):
        new_ids[r, shared + rest - own.shape[0] :] = own
        new_mask[r, shared + rest - own.shape[0] :] = 1
    padding = 1 - sum(own.shape[0] for own in owns) / (rows * rest)
    if ids.device.type == "cpu" and padding > ROWS_ALONE_PADDING and _plain_layers(cache):
        cache = _rows_encoded_alone(model, cache, owns, shared, rest)
    else:
        cache.batch_repeat_interleave(rows)
    return {"input_ids": new_ids, "attention_mask": new_mask, "past_key_values": cache}


def _plain_layers(cache: DynamicCache) -> bool:
    """Whether every layer of a cache is a plain, growing one (no sliding window), which
    `_rows_encoded_alone` can stack row by row."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _rows_encoded_alone(
    model: PreTrainedModel, prefix: DynamicCache, owns: list[torch.Tensor], shared: int,
    rest: int,
) -> DynamicCache:
    """On a CPU, where a batch costs its padded size: each row's own tokens but its last are
    encoded on their own after the prefix (no padding to compute, no mask to apply), and the
    caches are stacked as [prefix | padding | the row's tokens], the layout of the batch's
    inputs; `generate` then encodes the last column and decodes the rows together."""
    keys = [layer.keys for layer in prefix.layers]
    values = [layer.values for layer in prefix.layers]
    width = shared + rest - 1
    stacked_k = [k.new_zeros((len(owns), k.shape[1], width, k.shape[3])) for k in keys]
    stacked_v = [v.new_zeros((len(owns), v.shape[1], width, v.shape[3])) for v in values]
    for layer in range(len(keys)):
        stacked_k[layer][:, :, :shared] = keys[layer]
        stacked_v[layer][:, :, :shared] = values[layer]
    for r, own in enumerate(owns):
        n = own.shape[0] - 1
        if n == 0:
            continue
        row = DynamicCache(config=model.config)
        for layer in range(len(keys)):  # the prefix's tensors stay as they are: layers concatenate
            row.update(keys[layer], values[layer], layer)
        model(input_ids=own[None, :-1], position_ids=torch.arange(shared, shared + n)[None],
              past_key_values=row, use_cache=True, logits_to_keep=1)
        for layer, cached in enumerate(row.layers):
            stacked_k[layer][r, :, width - n :] = cached.keys[0, :, shared:]
            stacked_v[layer][r, :, width - n :] = cached.values[0, :, shared:]
    cache = DynamicCache(config=model.config)
    for layer in range(len(keys)):
        cache.update(stacked_k[layer], stacked_v[layer], layer)
    return cache


def _shared_prefix_inputs(
    model: PreTrainedModel, encoded: dict[str, torch.Tensor], copies: int
) -> dict[str, torch.Tensor | DynamicCache]:
    """Encode all but the last prompt token once, then repeat inputs and cache `copies` times.

    Position ids follow `generate`'s own rule for left padding, so the continuation matches
    what `generate` would compute from scratch.
    """
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache(config=model.config)
    model(
        input_ids=ids[:, :-1],
        attention_mask=mask[:, :-1],
        position_ids=positions[:, :-1],
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    cache.batch_repeat_interleave(copies)
    return {
        "input_ids": ids.repeat_interleave(copies, dim=0),
        "attention_mask": mask.repeat_interleave(copies, dim=0),
        "past_key_values": cache,
    }
