"""The real vLLM engine (its CPU build) against the HF backend on the same prompts, in one
process of its own: `python real_vllm_engine.py OUT.json`. The test reads OUT.json.

vLLM sets process-wide state (it freezes the garbage collector while an engine lives, and picks
its torch thread count), so it runs here rather than inside the test process.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import torch

PROMPTS = [
    "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nYou see a fridge and a table. What do you do?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n",
]
CONTINUATIONS = [[" apple", " banana split"], [" open fridge", " look", " take the milk"], []]
THINKING = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n<think>\n"


def main(out: str) -> None:
    from actrain.runtime.generation import generate, score_continuations
    from actrain.runtime.models import load_model, resolve_model_path
    from actrain.runtime.vllm_engine import VLLMEngine

    results: dict = {}
    model, tokenizer = load_model("smollm2-135m", "float32", "cpu")
    hf = dict(
        greedy=generate(model, tokenizer, PROMPTS, max_new_tokens=24, temperature=0,
                        progress=False),
        scores=score_continuations(model, tokenizer, PROMPTS, CONTINUATIONS, progress=False),
    )
    # Stop strings taken from the greedy texts themselves, so that each prompt's text has one.
    stops = [text.split()[2] for (text,) in hf["greedy"]]
    hf["stopped"] = generate(model, tokenizer, PROMPTS, max_new_tokens=24, temperature=0,
                             stop=stops, progress=False)
    # A stop string inside an unclosed thinking block does not stop the text (`cut_at_stop`).
    (thought,), = generate(model, tokenizer, [THINKING], max_new_tokens=24, temperature=0,
                           progress=False)
    think_stop = [thought.split()[2]]
    hf["thinking"] = generate(model, tokenizer, [THINKING], max_new_tokens=24, temperature=0,
                              stop=think_stop, progress=False)
    results["hf"], results["stops"], results["think_stop"] = hf, stops, think_stop

    threads = torch.get_num_threads()
    start = time.perf_counter()
    engine = VLLMEngine(resolve_model_path("smollm2-135m"), "float32", 0, max_model_len=1024)
    results["load_s"] = time.perf_counter() - start
    results["threads_after_engine"] = torch.get_num_threads()
    fast = dict(
        greedy=generate(engine, tokenizer, PROMPTS, max_new_tokens=24, temperature=0),
        scores=score_continuations(engine, tokenizer, PROMPTS, CONTINUATIONS),
        stopped=generate(engine, tokenizer, PROMPTS, max_new_tokens=24, temperature=0,
                         stop=stops),
        thinking=generate(engine, tokenizer, [THINKING], max_new_tokens=24, temperature=0,
                          stop=think_stop),
        sampled=[generate(engine, tokenizer, PROMPTS[:1], num_samples=4, max_new_tokens=12,
                          temperature=1.0, seed=7) for _ in range(2)],
    )
    # Seeded sampling of more prompt tokens than one engine step takes (4,096): before, a prompt
    # split over steps crashed the CPU engine ("CPU Generator does not use offset").
    long = [PROMPTS[1].replace("What do you do?", f"Room {i}. " + "You see a shelf. " * 40)
            for i in range(40)]
    results["many_sampled"] = generate(engine, tokenizer, long, num_samples=2, max_new_tokens=4,
                                       temperature=1.0, seed=3)
    results["many_tokens"] = sum(len(tokenizer(p)["input_ids"]) for p in long)
    results["vllm"] = fast
    torch.set_num_threads(1)  # still torch's own function: set and put back
    results["threads"] = [threads, torch.get_num_threads()]
    torch.set_num_threads(threads)
    engine.close()
    engine.close()  # twice does nothing
    results["frozen_after_close"] = gc.get_freeze_count()
    with VLLMEngine(resolve_model_path("smollm2-135m"), "float32", 0,
                    max_model_len=1024) as second:
        results["second_engine"] = generate(second, tokenizer, PROMPTS[:1], max_new_tokens=24,
                                            temperature=0)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":  # vLLM may start its engine in a spawned process
    main(sys.argv[1])
