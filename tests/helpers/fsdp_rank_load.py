"""Process 1 of an FSDP launch, as `accelerate launch` sets it up (ACCELERATE_USE_FSDP,
FSDP_CPU_RAM_EFFICIENT_LOADING, LOCAL_RANK 1) in a 1-process gloo group: load the tiny model as
an evaluation does and print the share of its weights that are exactly zero."""

import os

import torch.distributed as dist

from actrain.runtime.models import load_model

dist.init_process_group("gloo", rank=0, world_size=1, init_method="tcp://127.0.0.1:" +
                        os.environ["PORT"])
model, _ = load_model("tiny-random")
weight = model.model.layers[0].mlp.down_proj.weight
print("ZERO_SHARE", float((weight == 0).float().mean()))
print("ENV", os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING"))
dist.destroy_process_group()
