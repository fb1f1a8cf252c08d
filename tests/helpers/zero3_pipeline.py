"""One pipeline on the tiny model under `accelerate launch` with DeepSpeed ZeRO-3 (real
DeepSpeed, its CPU accelerator, gloo): `python zero3_pipeline.py RUNS_DIR PIPELINE [KEY=VALUE
...]` as each launched process. Writes RUNS_DIR/rank-R.json: how accelerate prepared each
trained model, and for every model loaded whether a ZeRO-3 config was alive and whether its
weights were whole (a partitioned parameter is an empty tensor with DeepSpeed's `ds_id`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"


def main(runs: str, pipeline: str, extra: list[str]) -> None:
    from accelerate import Accelerator
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    from actrain.config.schema import load_config
    from actrain.run.pipeline import Pipeline
    from actrain.runtime import models

    prepared: list[dict[str, Any]] = []
    loads: list[dict[str, Any]] = []
    real_prepare, real_load = Accelerator.prepare, models.load_model

    def prepare(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args and hasattr(args[0], "parameters"):
            plugin = self.state.deepspeed_plugin
            prepared.append({"distributed_type": str(self.distributed_type.value),
                             "zero_stage": plugin.zero_stage if plugin else None,
                             "backend": self.state.backend})
        return real_prepare(self, *args, **kwargs)

    def load_model(name: str, *args: Any, for_training: bool = False, **kwargs: Any) -> Any:
        zero3 = is_deepspeed_zero3_enabled()
        model, tokenizer = real_load(name, *args, for_training=for_training, **kwargs)
        params = list(model.parameters())
        loads.append({"name": str(name), "for_training": for_training, "zero3_alive": zero3,
                      "partitioned": sum(hasattr(p, "ds_id") for p in params),
                      "empty": sum(p.numel() == 0 for p in params)})
        return model, tokenizer

    Accelerator.prepare = prepare
    models.load_model = load_model
    config = load_config(None, [
        f"runs_dir={runs}", "name=r", "model=tiny-random", "dtype=float32", "device=cpu",
        f"pipeline={pipeline}", "env.id=twx/twc", "data.train_tasks=2", "data.eval_tasks=1",
        "alternatives.mode=admissible", "critic.max_new_tokens=2", "rollout.enabled=false",
        "act.max_steps=2", "act.num_generations=2", "act.prompts_per_step=2",
        "act.learning_rate=0.001", "il.max_steps=2", "il.learning_rate=0.001",
        "rl.max_steps=2", "rl.num_generations=2", "rl.prompts_per_step=2",
        "rl.learning_rate=0.001", "rl.grpo={weight_decay: 0.1}", "act.grpo={weight_decay: 0.1}",
        *extra,
    ])
    Pipeline(config).run()
    rank = int(os.environ.get("RANK", "0"))
    Path(runs, f"rank-{rank}.json").write_text(json.dumps({"prepared": prepared,
                                                           "loads": loads}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
