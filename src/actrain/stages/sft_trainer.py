"""TRL's `SFTTrainer`, with the model's own loss where TRL's fused LM head has no kernel.

TRL 1.16 patches every SFT model with a fused LM head (`trl.trainer.utils.add_fused_lm_head`)
that projects the hidden states onto the vocabulary in tiles. On CUDA a Triton kernel folds each
tile; elsewhere (the CPU) every position of the batch, prompt included, is projected and folded
by plain torch ops, with the weight gradient accumulated in fp32. On a 2-core CPU that makes an
IL step of SmolLM2-135M about twice as slow as the model's own forward and loss under the same
autocast (`benchmarks/sft_step.py` prints both in one run). The loss is the same: the mean
negative log-likelihood of the labelled tokens.

`PlainHeadSFTTrainer` is that subclass: `compute_loss` calls the model's own forward with its
labels where the fused head would run without Triton, and TRL's `compute_loss` everywhere else.
The two metrics TRL logs from the fused head (entropy, mean token accuracy) come from the logits
the plain forward already holds.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import SFTTrainer


def fused_head_has_kernel(device: torch.device) -> bool:
    """Whether TRL's fused LM head runs its Triton kernel on `device` (CUDA / XPU with
    Triton) rather than its torch fallback."""
    from transformers.utils import is_triton_available

    return device.type in ("cuda", "xpu") and is_triton_available()


class PlainHeadSFTTrainer(SFTTrainer):
    """`trl.SFTTrainer` whose loss comes from the model's own LM head and loss function where
    TRL's fused head would fall back to torch ops (see the module docstring for why)."""

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        device = inputs["input_ids"].device
        plain = (not fused_head_has_kernel(device) and not self.aux_loss_enabled
                 and self.compute_loss_func is None and self.label_smoother is None
                 and self.args.loss_type == "nll" and not return_outputs
                 and "attention_mask" in inputs)  # (padding-free batches: TRL's path)
        if not plain:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        labels = inputs["labels"]
        outputs = model(**inputs, num_items_in_batch=num_items_in_batch)
        loss = outputs.loss
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * (self.accelerator.num_processes // self.get_tp_size())
        self._log_token_metrics(mode, outputs.logits, labels, inputs)
        return loss

    @torch.no_grad()
    def _log_token_metrics(self, mode: str, logits: torch.Tensor, labels: torch.Tensor,
                           inputs: dict[str, Any]) -> None:
        """Entropy and token accuracy on the labelled positions, and the token count, as TRL's
        `compute_loss` logs them."""
        shifted = logits[:, :-1][labels[:, 1:] != -100].float()
        targets = labels[:, 1:][labels[:, 1:] != -100]
        logp = torch.log_softmax(shifted, dim=-1)
        gather = self.accelerator.gather_for_metrics
        valid = gather(torch.tensor(targets.numel(), device=logits.device)).sum()
        entropy = gather(-(logp.exp() * logp).sum(-1).sum()).sum()
        correct = gather((shifted.argmax(-1) == targets).sum()).sum()
        self._metrics[mode]["entropy"].append((entropy / valid).item() if valid > 0 else 0.0)
        self._metrics[mode]["mean_token_accuracy"].append(
            (correct / valid).item() if valid > 0 else 0.0)
        if mode == "train":
            tokens = gather(inputs["attention_mask"].sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
