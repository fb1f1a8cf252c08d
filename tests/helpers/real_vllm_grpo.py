"""TRL's GRPO with its colocated vLLM engine (`use_vllm: true, vllm_mode: colocate`), the real
CPU build, for ACT and RL through the pipeline on the tiny model: `python real_vllm_grpo.py
OUT_DIR STAGE` (act or rl), alone or as one of several launched processes. Writes
OUT_DIR/rank-R.json.

The result shows the weights the engine samples from before training, after the last step and
the trainer's own after each step (weight sync), and what of the trainer and its engine is
still alive once the stage has returned.
"""

from __future__ import annotations

import gc
import json
import sys
import weakref
from pathlib import Path
from typing import Any

import torch

PROBE = "model.embed_tokens.weight"  # one tensor that vLLM and transformers name alike


def engine_model(trainer: Any) -> Any:
    llm = trainer.vllm_generation.llm
    return llm.llm_engine.model_executor.driver_worker.model_runner.model


def main(out: str, stage: str) -> None:
    import transformers
    from transformers import TrainerCallback
    from vllm_tiny_model import vllm_tiny_model

    from actrain.config.schema import load_config
    from actrain.run.pipeline import Pipeline
    from actrain.runtime import distributed

    distributed.init(300)
    model = distributed.main_first(lambda: vllm_tiny_model(Path(out) / "tiny-model"))
    # A random model's answers are all malformed: every group is flat, its gradient zero, and
    # only AdamW's weight decay moves the weights, which is all a weight-sync check needs.
    grpo = ("{use_vllm: true, vllm_mode: colocate, vllm_max_model_length: 1024, "
            "weight_decay: 0.1}")
    config = load_config(None, [
        f"runs_dir={out}", "name=r", f"model={model}", "dtype=float32", "device=cpu",
        f"pipeline={stage}", "env.id=twx/twc", "data.train_tasks=2", "data.eval_tasks=1",
        "alternatives.mode=admissible", "critic.max_new_tokens=4", "rollout.enabled=false",
        f"{stage}.max_steps=3", f"{stage}.num_generations=2", f"{stage}.prompts_per_step=2",
        f"{stage}.grpo={grpo}", f"{stage}.learning_rate=0.01",
    ])
    seen: dict[str, Any] = {"hf_after_step": [], "engine_at_step": []}
    refs: list[tuple[str, weakref.ref]] = []

    class Probe(TrainerCallback):
        def __init__(self, trainer: Any) -> None:
            self.trainer = weakref.ref(trainer)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            weights = dict(engine_model(self.trainer()).named_parameters())[PROBE]
            seen["engine_start"], seen["engine_dtype"] = weights.detach().float().clone(), \
                weights.dtype

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            weights = dict(engine_model(self.trainer()).named_parameters())[PROBE]
            seen["engine_at_step"].append(weights.detach().float().clone())

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None,
                        **kwargs: Any) -> None:
            seen["hf_after_step"].append(
                model.get_parameter(PROBE).detach().float().clone())

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            trainer = self.trainer()
            seen["engine_end"] = dict(engine_model(trainer).named_parameters())[PROBE] \
                .detach().float().clone()
            refs.append(("engine", weakref.ref(trainer.vllm_generation.llm)))

    real_init = transformers.Trainer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        refs.append(("trainer", weakref.ref(self)))
        refs.append(("model", weakref.ref(self.model)))
        self.add_callback(Probe(self))

    transformers.Trainer.__init__ = init
    from trl.generation.vllm_generation import VLLMGeneration

    real_sync, real_generate = VLLMGeneration.sync_weights, VLLMGeneration.generate
    seen["syncs"], seen["generations"] = [], 0

    def sync_weights(self: Any) -> None:
        real_sync(self)
        model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        engine = dict(model.named_parameters())[PROBE]
        trained = self.model.get_parameter(PROBE).detach()
        # the engine holds what it was given in its own dtype (vLLM runs an fp32 config in bf16)
        seen["syncs"].append((engine.detach().float().clone(),
                              torch.equal(engine, trained.to(engine.dtype))))

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen["generations"] += 1
        return real_generate(self, *args, **kwargs)

    VLLMGeneration.sync_weights, VLLMGeneration.generate = sync_weights, generate
    pipeline = Pipeline(config, [stage])
    pipeline.collect()
    if stage == "act":
        pipeline.pairs()
    threads = torch.get_num_threads()
    pipeline.train(0, (stage,))
    gc.collect()
    start, end = seen["engine_start"], seen["engine_end"]
    result = {
        "steps": len(seen["hf_after_step"]),
        "engine_changed": not torch.equal(start, end),
        "engine_is_trained": [torch.equal(end, w.to(seen["engine_dtype"]).float())
                              for w in seen["hf_after_step"]],
        "engine_moved_at_step": [not torch.equal(start, w) for w in seen["engine_at_step"]],
        "syncs": len(seen["syncs"]),
        "generations": seen["generations"],
        "synced_moved": [not torch.equal(start, w) for w, _ in seen["syncs"]],
        "synced_is_trained": [same for _, same in seen["syncs"]],
        "engine_dtype": str(seen["engine_dtype"]),
        "alive": [name for name, ref in refs if ref() is not None],
        "frozen": gc.get_freeze_count(),
        "threads": [threads, torch.get_num_threads()],
    }
    from actrain.runtime import distributed

    result["world_after"] = distributed.world()
    with open(f"{out}/rank-{distributed.rank()}.json", "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    if distributed.launched():
        from rank_exit import finish

        finish()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
