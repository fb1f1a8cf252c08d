"""`PlainHeadSFTTrainer`: on the CPU, TRL's SFT loss and metrics from the model's own LM head
instead of TRL's torch-folded fused head (stages/sft_trainer.py)."""

import pytest
import torch
from helpers.trajectories import SHIRT_TRAJECTORIES
from trl import SFTTrainer

from actrain.config.schema import load_config
from actrain.stages.il import il_dataset, sft_config
from actrain.stages.inputs import stage_inputs
from actrain.stages.sft_trainer import PlainHeadSFTTrainer, fused_head_has_kernel


def _trainer(cls, tmp_path):
    from actrain.runtime.models import load_model

    torch.manual_seed(0)
    model, tokenizer = load_model("tiny-random")
    config = load_config(None, ["model=tiny-random", "dtype=float32", "il.batch_size=6"])
    inputs = stage_inputs(config, "il")
    dataset = il_dataset(tokenizer, SHIRT_TRAJECTORIES, inputs.view)
    trainer = cls(model=model, args=sft_config(inputs, tmp_path, 1024), train_dataset=dataset,
                  processing_class=tokenizer)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    return trainer, batch


def test_the_plain_head_gives_trls_loss_and_metrics_without_the_fused_head(tmp_path):
    fused, batch = _trainer(SFTTrainer, tmp_path / "fused")
    plain, _ = _trainer(PlainHeadSFTTrainer, tmp_path / "plain")
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()
    expected = fused.compute_loss(fused.model, dict(batch), num_items_in_batch=None)

    calls = []
    forward = plain.model.forward

    def recording(*args, **kwargs):
        calls.append(kwargs.get("fused_lm_head", False))
        return forward(*args, **kwargs)

    plain.model.forward = recording
    got = plain.compute_loss(plain.model, dict(batch), num_items_in_batch=None)
    assert calls == [False]  # the model's own head: no fused tiles on the CPU
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    for name in ("entropy", "mean_token_accuracy", "num_tokens"):
        assert plain._metrics["train"][name] == pytest.approx(fused._metrics["train"][name],
                                                              rel=1e-4), name
    # the loss has a gradient, as TRL's does
    got.backward()
    assert plain.model.lm_head.weight.grad is not None or \
        plain.model.get_input_embeddings().weight.grad is not None


def test_the_fused_head_keeps_its_kernel_where_it_has_one():
    assert not fused_head_has_kernel(torch.device("cpu"))
