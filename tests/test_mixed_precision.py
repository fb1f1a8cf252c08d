"""Full fine-tuning on a GPU keeps fp32 weights under bf16 autocast: one ACT-sized optimizer step
at lr 1e-6 must move the weights, which pure-bf16 weights (what a GPU loads for generation, and
what training once loaded too) cannot hold.

No GPU is needed. The load is emulated: `torch.cuda.is_available` answers True and
`from_pretrained` records its arguments, then builds the model on the CPU (without the
`device_map` that would place it on a card), so `load_model(..., device="cuda:0")` runs its real
GPU dtype decision. The step is the GPU's too: bf16 autocast (here the CPU's) over the weights in
the dtype they were loaded in, and torch's AdamW, which updates each weight in its own dtype as
the Trainer does with no ZeRO / FSDP master copy.
"""

import pytest
import torch

from actrain.runtime import models

LR = 1e-6  # the ACT / RL learning rate of the 8B configs


@pytest.fixture
def gpu_loads(monkeypatch):
    """`load_model` on a pretend `cuda:0`: returns the `from_pretrained` arguments of each load."""
    real = models.AutoModelForCausalLM.from_pretrained
    calls: list[dict] = []

    def load(path, **kwargs):
        calls.append(dict(kwargs))
        kwargs.pop("device_map", None)  # stays on the CPU
        model = real(path, **kwargs)
        model.to = lambda *_args, **_kwargs: model  # a sharded load would move it to the card
        return model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", load)
    for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED",
                 "ACCELERATE_DEEPSPEED_ZERO_STAGE", "ACCELERATE_DEEPSPEED_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    return calls


def _one_step_changed(model, tokenizer) -> float:
    """One policy-gradient step on one-token choices (ACT's GRPO with advantages of +-1) under
    bf16 autocast, AdamW at `LR`: the share of weights with a gradient that changed."""
    torch.manual_seed(0)
    prompts = [f"Which action is better, {i}? Answer 1 or 2." for i in range(8)]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    choices = torch.tensor([tokenizer.convert_tokens_to_ids(str(1 + i % 2)) for i in range(8)])
    advantages = torch.tensor([1.0, -1.0] * 4)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(**batch).logits[:, -1].float()
    logprobs = torch.log_softmax(logits, -1).gather(1, choices[:, None]).squeeze(1)
    (-(advantages * logprobs).mean()).backward()
    optimizer.step()
    moved = total = 0
    for name, param in model.named_parameters():
        has_grad = param.grad != 0
        moved += int((param.detach() != before[name])[has_grad].sum())
        total += int(has_grad.sum())
    assert total > 100_000
    return moved / total


def test_one_step_at_lr_1e6_moves_fp32_trained_weights_and_not_bf16_ones(gpu_loads):
    trained, tokenizer = models.load_model("tiny-random", "bfloat16", "cuda:0",
                                           for_training=True)
    served, _ = models.load_model("tiny-random", "bfloat16", "cuda:0")
    assert [c["dtype"] for c in gpu_loads] == [torch.float32, torch.bfloat16]
    assert trained.dtype == torch.float32 and served.dtype == torch.bfloat16
    fp32_moved = _one_step_changed(trained, tokenizer)
    bf16_moved = _one_step_changed(served, tokenizer)
    print(f"weights changed by one step at lr {LR:g}: fp32 {fp32_moved:.1%}, "
          f"bf16 {bf16_moved:.1%}")
    assert fp32_moved > 0.95
    assert bf16_moved < 0.05


@pytest.mark.parametrize(("launch", "lora", "expected"), [
    ({}, False, torch.float32),  # one GPU or DDP: nothing else keeps an fp32 master copy
    ({}, True, torch.bfloat16),  # a frozen LoRA base; PEFT makes the adapters fp32
    ({"ACCELERATE_USE_FSDP": "true"}, False, torch.bfloat16),  # accelerate upcasts
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, False,
     torch.bfloat16),  # DeepSpeed's optimizer holds fp32 partitions
], ids=["ddp", "lora", "fsdp", "zero3"])
def test_gpu_training_loads_fp32_only_where_no_master_copy_is_kept(gpu_loads, monkeypatch,
                                                                  launch, lora, expected):
    for name, value in launch.items():
        monkeypatch.setenv(name, value)
    model, _ = models.load_model("tiny-random", "bfloat16", "cuda:0", for_training=True,
                                 lora=lora)
    models.load_model("tiny-random", "bfloat16", "cuda:0")  # generation and evaluation
    assert [c["dtype"] for c in gpu_loads] == [expected, torch.bfloat16]
    assert model.dtype == expected
    assert models.training_weight_dtype("bfloat16", "cpu", for_training=True) == torch.float32


def test_the_pipeline_loads_its_training_models_by_the_same_rule(gpu_loads, monkeypatch,
                                                                 tmp_path):
    from actrain.config.schema import load_config
    from actrain.run.pipeline import Pipeline

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    settings = [f"runs_dir={tmp_path}", "model=tiny-random", "device=cuda:0", "dtype=bfloat16"]
    full = Pipeline(load_config(None, settings))
    lora = Pipeline(load_config(None, [*settings, "peft.enabled=true"]))
    assert full.load_model("tiny-random", for_training=True)[0].dtype == torch.float32
    assert full.load_model("tiny-random")[0].dtype == torch.bfloat16
    assert lora.load_model("tiny-random", for_training=True)[0].dtype == torch.bfloat16


def test_one_act_step_through_trl_moves_fp32_weights_and_not_bf16_ones(tmp_path):
    """The same through the ACT stage itself: TRL's GRPO with pair groups, one step at lr 1e-6
    under bf16 autocast, on the tiny model made to answer 1 or 2 at random (so that its groups
    have reward variance). fp32 weights are what a GPU now trains; bf16 ones what it trained."""
    from helpers.pairs import make_pair

    from actrain.config.schema import load_config
    from actrain.gpu_check.tiny_pipeline import chooser_model
    from actrain.stages.act import run_act
    from actrain.stages.inputs import stage_inputs

    folder = chooser_model(tmp_path)
    config = load_config(None, [
        f"model={folder}", "dtype=bfloat16", "device=cpu", "critic.max_new_tokens=1",
        f"act.learning_rate={LR}", "act.max_steps=1", "act.num_generations=8",
        "act.prompts_per_step=2", "act.zero_variance=keep", "act.save_steps=0"])
    pairs = [make_pair(i, i % 2 == 0) for i in range(4)]
    moved = {}
    for weights in (torch.float32, torch.bfloat16):
        model, tokenizer = models.load_model(str(folder), "float32", "cpu")
        model = model.to(weights)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        run_act(model, tokenizer, pairs, [], stage_inputs(config, "act"), tmp_path / str(weights))
        changed = total = 0
        for name, param in model.named_parameters():
            if ".layers." in name:  # the transformer blocks: every weight has a gradient
                changed += int((param.detach() != before[name]).sum())
                total += param.numel()
        moved[weights] = changed / total
    print(f"one ACT step at lr {LR:g}: fp32 weights {moved[torch.float32]:.1%} changed, "
          f"bf16 weights {moved[torch.bfloat16]:.1%}")
    assert moved[torch.float32] > 0.9
    assert moved[torch.bfloat16] < 0.1
