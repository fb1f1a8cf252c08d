"""One of two processes (gloo) evaluating the critic on the tiny model, whose every forward is
made an all-reduce, as a ZeRO-3 or FSDP model's all-gathers are; for
tests/test_synced_generation.py. Rank 0 writes OUT_DIR/result.json: the predictions of a
single-process evaluation and of the two processes'."""

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist

os.environ["HF_HUB_OFFLINE"] = "1"
out_dir = Path(sys.argv[1])
dist.init_process_group("gloo", timeout=timedelta(seconds=60))

from helpers.pairs import make_pair  # noqa: E402
from rank_exit import finish  # noqa: E402

from actrain.config.schema import CriticConfig, EvalConfig  # noqa: E402
from actrain.eval.critic import evaluate_critic  # noqa: E402
from actrain.runtime import distributed  # noqa: E402
from actrain.runtime.models import load_model  # noqa: E402
from actrain.stages.act import CriticCurveCallback  # noqa: E402

model, tokenizer = load_model("tiny-random")
pairs = [make_pair(i, observation="You are in the bedroom." + " It is dark." * i)
         for i in range(5)]
critic, evaluation = CriticConfig(max_new_tokens=6), EvalConfig(batch_size=2)

single = None
if distributed.rank() == 0:
    world, rank = distributed.world, distributed.rank
    distributed.world, distributed.rank = (lambda: 1), (lambda: 0)
    single = evaluate_critic(model, tokenizer, pairs, critic, evaluation)[1]
    distributed.world, distributed.rank = world, rank
dist.barrier()

forwards = 0


def collective(module, args, kwargs):  # noqa: ANN001, ANN201
    global forwards
    forwards += 1
    dist.all_reduce(torch.zeros(1))


model.register_forward_pre_hook(collective, with_kwargs=True)
launched = evaluate_critic(model, tokenizer, pairs, critic, evaluation, synced=True)[1]

# The ACT stage's callback, on a trainer whose accelerator splits the weights with FSDP
state = SimpleNamespace(distributed_type="FSDP", deepspeed_plugin=None,
                        fsdp_plugin=SimpleNamespace(fsdp_version=2))
accelerator = SimpleNamespace(state=state, unwrap_model=lambda m, **_: m)
trainer = SimpleNamespace(model_wrapped=model, accelerator=accelerator,
                          args=SimpleNamespace(gradient_checkpointing_kwargs=None))
inputs = SimpleNamespace(critic=critic, eval=evaluation, instructions="",
                         trainer=SimpleNamespace(dtype="float32", seed=0))
callback = CriticCurveCallback(1, tokenizer, pairs, inputs, out_dir / "curve.jsonl")
callback.bind(trainer)
model.train()
callback.on_step_end(None, SimpleNamespace(global_step=1), None, model=model)
assert model.training

counts = [None, None]
dist.all_gather_object(counts, forwards)
assert counts[0] == counts[1], counts
if distributed.rank() == 0:
    (out_dir / "result.json").write_text(json.dumps(
        {"single": [p.to_json() for p in single], "launched": [p.to_json() for p in launched],
         "forwards": counts}))
finish()
