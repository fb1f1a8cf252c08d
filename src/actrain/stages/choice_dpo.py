"""DPO for the two-action choice with one prompt pass a pair: TRL's `DPOTrainer` plus one hook.

`DPOTrainer` stacks a batch as `[chosen rows; rejected rows]` and runs the policy (and the
reference) over both halves. For the critic the two rows of a pair are the same shown prompt
followed by two answers of a few tokens ("1</answer>" against "2</answer>", or two actions'
texts closed by "</action>"), so nearly all of that work is done twice. `ChoiceDPOTrainer`
runs each pair as one packed row instead:

    [shared prefix][chosen suffix][rejected suffix]

with position ids that restart the rejected suffix where the prefix ends, and an attention mask
in which the rejected suffix does not see the chosen one. Every token then sees exactly the
tokens it sees in its own row, so the hidden states, and TRL's log-probabilities, losses and
metrics computed from them, are those of the plain path (`tests/test_choice_dpo.py` checks the
per-token log-probabilities and the loss), at about the cost of one prompt pass instead of two.

TRL's fused LM head scores every position of the batch it is given where Triton is missing (on
a CPU): a vocabulary-wide projection of each prompt token, only to be masked out. So the loss
sees a *window* of the batch, the last columns of each row from the token before its answer on,
and the backbone, handed that window, computes the hidden states from the whole rows it was
cut from and returns the window's. The hook is the backbone's forward, swapped only while
`compute_loss` runs; everything else in `DPOTrainer` (reference model or adapter, loss types,
logging) is untouched. An attention kernel without custom masks goes the plain way.

What DPO scores (`act.dpo_scope`): TRL's default sums the log-probabilities of the whole
answer, "1</answer><|im_end|>" against "2</answer><|im_end|>". The tokens after the digit are
the same text in both rows but conditioned on different digits, so DPO can widen its margin
there (a model sure that "</answer>" follows "1" and unsure after "2") while the choice itself,
the digit, does not move: measured on TWC, 93.5% train preference accuracy and a held-out critic
that always names position 2. With `decision` (the default) each pair's completion mask ends at
the first token where its two answers differ, so the loss is the choice and nothing after it;
tokens before it are the same in both rows and cancel. With `critic.answer_format: action` the
answers are the actions' texts ("take apple</action>" against "take knife</action>"): the shared
"take" cancels and the loss is the token that first tells the two actions apart ("apple" against
"knife"), after which the choice is made.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPast
from trl import DPOTrainer

# Attention kernels that take a custom 4D mask: "sdpa" a boolean one, "eager" an additive one.
_PACKABLE = {"sdpa", "eager"}


def _packing(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Packed rows, their positions and masks, and the gather indices that unpack them.

    Rows are right-padded (TRL's preference collator); row i and row i + B are one pair.
    """
    half = input_ids.size(0) // 2
    chosen, rejected = input_ids[:half], input_ids[half:]
    len_c, len_r = attention_mask[:half].sum(1), attention_mask[half:].sum(1)
    width = input_ids.size(1)
    steps = torch.arange(width, device=input_ids.device)
    same = (chosen == rejected) & (steps < torch.minimum(len_c, len_r)[:, None])
    shared = same.long().cumprod(1).sum(1)  # the common prefix of each pair
    packed_len = len_c + len_r - shared
    total = int(packed_len.max())
    slots = torch.arange(total, device=input_ids.device)[None, :]  # (1, T)

    # Packed slot s holds chosen token s (s < len_c), else rejected token s - len_c + shared.
    in_rejected = slots >= len_c[:, None]
    source = torch.where(in_rejected, slots - len_c[:, None] + shared[:, None], slots)
    valid = slots < packed_len[:, None]
    source = torch.where(valid, source, 0)
    packed_ids = torch.where(
        in_rejected, rejected.gather(1, source), chosen.gather(1, source)
    ).masked_fill(~valid, 0)
    positions = source

    # Causal over packed slots, except that the rejected suffix does not see the chosen suffix.
    query, key = slots[:, :, None], slots[:, None, :]  # (1, T, 1), (1, 1, T)
    allowed = (key <= query) & valid[:, None, :]
    chosen_suffix_key = (key >= shared[:, None, None]) & (key < len_c[:, None, None])
    allowed &= ~(in_rejected[:, :, None] & chosen_suffix_key)
    allowed |= (~valid[:, :, None]) & (key == 0)  # padding queries see slot 0: no empty rows

    # Unpack: chosen token t sits in slot t; rejected token t in slot t below the shared prefix,
    # else in slot len_c + t - shared.
    rows = steps[None, :]
    back_c = torch.where(rows < len_c[:, None], rows, 0)
    back_r = torch.where(rows < shared[:, None], rows, len_c[:, None] + rows - shared[:, None])
    back_r = torch.where(rows < len_r[:, None], back_r, 0)
    return {"input_ids": packed_ids, "positions": positions, "allowed": allowed[:, None],
            "back": torch.cat([back_c, back_r]), "pair": torch.arange(half).repeat(2)}


def decision_span(inputs: dict[str, Any]) -> dict[str, Any]:
    """`inputs` with each pair's completion mask cut after the first column where the chosen and
    the rejected row differ (TRL's `[chosen; rejected]` layout; a pair shares its prompt, so its
    answers start in the same column). A pair whose rows do not differ keeps its mask."""
    ids, answer = inputs["input_ids"], inputs["completion_mask"]
    half = ids.size(0) // 2
    differs = (ids[:half] != ids[half:]) & (answer[:half] + answer[half:] > 0)
    columns = torch.arange(ids.size(1), device=ids.device)[None, :]
    last = torch.where(differs.any(1), differs.int().argmax(1), ids.size(1))
    keep = (columns <= last[:, None]).repeat(2, 1)
    return {**inputs, "completion_mask": answer * keep.to(answer.dtype)}


def answer_window(inputs: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
    """The last columns of each right-padded row, from the token before its answer to its end.

    Returns the windowed batch (`input_ids`, `attention_mask`, `completion_mask` cut the same
    way, other entries as they are) and each window column's position in its row (-1: none).
    """
    mask, answer = inputs["attention_mask"], inputs["completion_mask"]
    lengths = mask.sum(1)
    first = torch.where(answer.any(1), answer.argmax(1), lengths)
    width = int((lengths - first).max()) + 1
    columns = lengths[:, None] - width + torch.arange(width, device=mask.device)[None, :]
    valid = columns >= 0
    index = columns.clamp(min=0)
    window = dict(inputs)
    for key in ("input_ids", "attention_mask", "completion_mask"):
        window[key] = inputs[key].gather(1, index).masked_fill(~valid, 0)
    return window, columns.masked_fill(~valid, -1)


def _attention_mask(allowed: torch.Tensor, kernel: str) -> torch.Tensor:
    """`allowed` as `kernel` takes a custom mask: boolean for SDPA, additive for eager."""
    if kernel != "eager":
        return allowed
    mask = torch.zeros(allowed.shape, dtype=torch.float32, device=allowed.device)
    return mask.masked_fill(~allowed, torch.finfo(torch.float32).min)


def _packed_forward(original: Any, pack: dict[str, torch.Tensor], mask: torch.Tensor,
                    window_ids: torch.Tensor, columns: torch.Tensor) -> Any:
    """A backbone forward that, handed `window_ids`, runs the packed pair rows `pack` and
    returns the hidden states of the window's columns; any other call goes the plain way."""

    def forward(self: Any, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, **kwargs: Any) -> Any:
        extra = {k for k, v in kwargs.items() if v is not None} - {"use_cache"}
        if (input_ids is None or extra or kwargs.get("use_cache")
                or input_ids.shape != window_ids.shape or not torch.equal(input_ids, window_ids)):
            return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = original(input_ids=pack["input_ids"], attention_mask=mask,
                          position_ids=pack["positions"], use_cache=False).last_hidden_state
        rows = hidden[pack["pair"]]  # (2B, T, H): each pair's packed row, twice
        slots = pack["back"].gather(1, columns.clamp(min=0))  # window column -> packed slot
        index = slots[:, :, None].expand(-1, -1, hidden.size(-1))
        keep = (columns >= 0)[:, :, None].to(hidden.dtype)
        return BaseModelOutputWithPast(last_hidden_state=rows.gather(1, index) * keep)

    return forward


@contextlib.contextmanager
def packed_pairs(models: list[Any], batch: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """While open, the backbones of `models`, handed the yielded window of `batch` (TRL's
    `[chosen; rejected]` layout, right-padded), run `batch` as packed pair rows. The packing is
    computed once and shared by the policy and the reference model."""
    targets: list[tuple[Any, str]] = []
    for model in models if batch["input_ids"].size(0) % 2 == 0 else []:
        if model is None:
            continue
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        backbone = getattr(base, "base_model", None)
        kernel = getattr(base.config, "_attn_implementation", None)
        if backbone is None or backbone is base or kernel not in _PACKABLE:
            continue
        if all(b is not backbone for b, _ in targets):
            targets.append((backbone, kernel))
    if not targets:
        yield batch
        return
    window, columns = answer_window(batch)
    pack = _packing(batch["input_ids"], batch["attention_mask"])
    masks = {kernel: _attention_mask(pack["allowed"], kernel) for _, kernel in targets}
    swapped = []
    for backbone, kernel in targets:
        forward = _packed_forward(backbone.forward, pack, masks[kernel],
                                  window["input_ids"], columns)
        swapped.append((backbone, backbone.forward))
        backbone.forward = types.MethodType(forward, backbone)
    try:
        yield window
    finally:
        for backbone, original in swapped:
            backbone.forward = original


class ChoiceDPOTrainer(DPOTrainer):
    """`DPOTrainer` for a choice between two answers (module docs): with `pack`, each
    chosen/rejected pair runs as one packed row; with `decision_only`, the loss scores each
    pair's answers up to the first token where they differ.

    A subclass because TRL has no hook between its collator and the model call; only the
    completion mask and the backbone's forward change, and only inside the loss.
    """

    def __init__(self, *args: Any, pack: bool = True, decision_only: bool = True,
                 **kwargs: Any) -> None:
        self.pack, self.decision_only = pack, decision_only
        super().__init__(*args, **kwargs)

    def compute_ref_log_probs(self, model: Any, inputs: dict[str, Any]) -> Any:
        # Also reached without `compute_loss` when `precompute_ref_log_probs` is set.
        return super().compute_ref_log_probs(model, self._scored(inputs))

    def _scored(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return decision_span(inputs) if self.decision_only else inputs

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        inputs = self._scored(inputs)
        policy = self.accelerator.unwrap_model(model)
        models = [policy, self.ref_model] if self.pack else []
        with packed_pairs(models, inputs) as window:
            result = super().compute_loss(model, window, return_outputs, num_items_in_batch)
        if window is not inputs and self.model.training:  # count whole rows in `num_tokens`
            cut = inputs["attention_mask"].sum() - window["attention_mask"].sum()
            self._total_train_tokens += int(self.accelerator.gather(cut).sum()) // self._tp_size
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
        return result
