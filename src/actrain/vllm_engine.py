"""vLLM as the generation backend outside training (`generation.backend: vllm`).

At paper scale most of the compute outside the trainers is generation: K alternatives at every
expert state, held-out critic judgments, and rollouts of 50 turns. `VLLMEngine` stands in for the
Hugging Face model wherever `generation.generate` and `generation.continuation_logprobs` are
called, so alternative sampling, critic evaluation and rollouts switch engines with one config
key. Prompts go in as token ids (tokenised exactly as the HF path does), the K samples of a
prompt are one request (`n=K`), and prefix caching shares the prompt between them and across
turns. GRPO stages keep TRL's own vLLM integration (`act.grpo` / `rl.grpo`: `use_vllm`,
`vllm_mode: colocate | server`).

Needs a CUDA GPU and `pip install 'actrain[vllm]'`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrain.errors import ActrainError
from actrain.prompts import THINK_OPEN, cut_at_stop


class VLLMEngine:
    """An offline vLLM engine for one model folder (full weights)."""

    def __init__(self, path: str, dtype: str, seed: int, gpu_memory_utilization: float = 0.85,
                 max_model_len: int = 0) -> None:
        if (Path(path) / "adapter_config.json").exists():
            raise ActrainError(f"{path} is a LoRA adapter; generation.backend: vllm needs full "
                               "weights: set peft.merge: true")
        try:
            from vllm import LLM
        except ImportError:
            raise ActrainError("generation.backend: vllm needs vLLM (a CUDA GPU): "
                               "pip install 'actrain[vllm]'") from None
        kwargs: dict[str, Any] = {"max_model_len": max_model_len} if max_model_len else {}
        self.path = path
        self.llm = LLM(model=path, dtype=dtype, seed=seed, enable_prefix_caching=True,
                       gpu_memory_utilization=gpu_memory_utilization, **kwargs)

    def generate(self, tokenizer: Any, prompts: Sequence[str], num_samples: int,
                 max_new_tokens: int, temperature: float, top_p: float, stop: Sequence[str],
                 seed: int | None) -> list[list[str]]:
        """Like `generation.generate`: one list of completions per prompt, special tokens out."""
        from vllm import SamplingParams

        # vLLM's stop strings would also fire inside a thinking block; where the template can
        # think, generation runs on and the shared stop rule cuts the text afterwards.
        thinking = THINK_OPEN in (getattr(tokenizer, "chat_template", None) or "")
        params = SamplingParams(
            n=num_samples, temperature=temperature, top_p=top_p if temperature > 0 else 1.0,
            max_tokens=max_new_tokens, seed=seed, skip_special_tokens=True,
            stop=None if thinking or not stop else list(stop),
            include_stop_str_in_output=True,
        )
        requests = [{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]}
                    for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [[cut_at_stop(o.text, stop) for o in out.outputs] for out in outputs]

    def continuation_logprobs(self, tokenizer: Any, prompt: str,
                              continuations: Sequence[str]) -> list[float]:
        """Total log-probability of each continuation after `prompt` (prompt cached once)."""
        from vllm import SamplingParams

        if not continuations:
            return []
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        conts = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        params = SamplingParams(max_tokens=1, prompt_logprobs=0)
        outputs = self.llm.generate([{"prompt_token_ids": prompt_ids + c} for c in conts],
                                    params, use_tqdm=False)
        scores = []
        for cont, out in zip(conts, outputs, strict=True):
            positions = range(len(prompt_ids), len(prompt_ids) + len(cont))
            scores.append(sum(out.prompt_logprobs[i][t].logprob
                              for i, t in zip(positions, cont, strict=True)))
        return scores
