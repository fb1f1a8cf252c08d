"""One of 2 launched processes (gloo) with the real vLLM engine: `python real_vllm_launched.py
OUT_DIR`, with RANK / WORLD_SIZE / MASTER_* set as `accelerate launch` sets them.

Each process starts its engine with the external launcher (in its own process, joining the
launcher's group), generates, closes the engine, checks that the launcher's group outlived it,
then starts a second engine and generates again. Writes OUT_DIR/rank-R.json.
"""

from __future__ import annotations

import gc
import json
import sys

import torch.distributed as dist

PROMPT = "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n"


def main(out: str) -> None:
    from actrain.runtime import distributed
    from actrain.runtime.generation import generate
    from actrain.runtime.models import load_tokenizer, resolve_model_path
    from actrain.runtime.vllm_engine import VLLMEngine

    distributed.init(120)
    path = resolve_model_path("smollm2-135m")
    tokenizer = load_tokenizer("smollm2-135m")
    result: dict = {"rank": distributed.rank(), "world": distributed.world()}
    engine = VLLMEngine(path, "float32", 0, max_model_len=512)
    result["in_process"] = type(engine.llm.llm_engine.engine_core).__name__
    result["first"] = generate(engine, tokenizer, [PROMPT], max_new_tokens=8, temperature=0)
    engine.close()
    result["group_after_close"] = dist.is_initialized()
    result["world_after_close"] = distributed.world()
    result["frozen_after_close"] = gc.get_freeze_count()
    gathered = distributed.gather([distributed.rank()], distributed.world())
    result["gathered_after_close"] = gathered
    with VLLMEngine(path, "float32", 0, max_model_len=512) as second:
        result["second"] = generate(second, tokenizer, [PROMPT], max_new_tokens=8,
                                    temperature=0)
    result["world_at_end"] = distributed.world()
    with open(f"{out}/rank-{distributed.rank()}.json", "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    from rank_exit import finish

    finish()


if __name__ == "__main__":
    main(sys.argv[1])
