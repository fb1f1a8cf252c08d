"""What every stage shares: the stages in order and their time limits, the prompt and
continuations scored, the tolerance log-probabilities are compared with, and the import path
the launched worker and the pipeline's config use to reach this package."""

from __future__ import annotations

# The import path: what the launched worker runs with `-m`, and the config's `module:name`.
MODULE = "actrain.gpu_check"
EMBEDDED = "smollm2-135m"
# What the offline bundle brings of the embedded model: its config and tokenizer, not weights.
EMBEDDED_FILES = ("config.json", "generation_config.json", "tokenizer.json",
                  "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
            "safetensors", "huggingface_hub", "deepspeed", "vllm", "pydantic")
PROMPT = ("You are in room 0 of a corridor of 2. Admissible actions: go back, go forward, "
          "wait.\nYour next action: <action>")
CONTINUATIONS = ("go forward</action>", "wait</action>", "go back, then wait</action>")
# Log-probability agreement: a wrong mask, position or cache gives errors of whole nats; bf16
# rounding through 30 layers gives tenths of one over a few tokens.
TOLERANCE_ABS, TOLERANCE_REL = 0.15, 0.03
LEARNING_RATE = 1e-3  # large enough to change bf16 weights in one step (1e-5 rounds away)
# Seconds a stage may take before it is stopped (the whole check aims at under 10 minutes).
LIMITS = {"environment": 180, "tiny_model": 120, "embedded_model": 180,
          "logprobs_cuda_vs_cpu": 180, "pipeline": 300, "lora_merge": 180, "act_fsdp2": 300,
          "act_zero3": 300, "vllm_twice": 300}
STAGES = tuple(LIMITS)
LAUNCH_CONFIGS = {"act_zero3": "zero3-8gpu.yaml", "act_fsdp2": "fsdp-8gpu.yaml"}
