"""The vLLM engine's life as the CUDA build sees it, through a stand-in `vllm` package: the
arguments a launched process's engine gets on a GPU, that closing it runs vLLM's cleanup, that
the pipeline closes every engine before training and after each evaluation, and that
admissible actions are scored in one `generate` call.

The stand-in stays for what the CPU build cannot show: the CUDA build's arguments (no eager
mode, the GPU a launched engine takes) and call counts over a whole pipeline, cheaply. What the
real engine does (same text as the HF backend, the launcher's group kept when an engine closes,
TRL's colocated engine and its weight sync) is `test_vllm_real.py`'s."""

from __future__ import annotations

import os
import shutil
import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest

from actrain.config.schema import load_config

ENV_KEYS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class Logprob:
    logprob: float


def fake_logprob(prefix: list[int], token: int) -> float:
    """A log-probability that depends on the whole prefix, so misplaced indexing shows."""
    return -((sum(prefix) * 31 + token) % 97) / 10


class FakeVLLM:
    """What the tests see of the stand-in package: its engines and the calls made to it."""

    def __init__(self, completion: str) -> None:
        self.completion = completion
        self.engines: list[Any] = []
        self.events: list[tuple[str, str]] = []
        self.cleanups = 0
        self.model_parallel_teardowns = 0

    def open_engines(self) -> list[Any]:
        return [e for e in self.engines if not e.closed]


def _fake_package(fake: FakeVLLM) -> dict[str, types.ModuleType]:
    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs
            self.env = {k: os.environ.get(k) for k in ENV_KEYS}
            self.closed = False
            self.generate_calls = 0
            self.llm_engine = types.SimpleNamespace(
                engine_core=types.SimpleNamespace(shutdown=self._shutdown))
            fake.engines.append(self)
            fake.events.append(("start", kwargs["model"]))

        def _shutdown(self) -> None:
            self.closed = True
            fake.events.append(("close", self.kwargs["model"]))

        def generate(self, requests: list[dict], params: Any, use_tqdm: bool = True) -> list:
            assert not self.closed, "generate on a closed engine"
            self.generate_calls += 1
            self.params = params
            each = params if isinstance(params, list) else [params] * len(requests)
            assert len(each) == len(requests)
            outputs = []
            for request, params in zip(requests, each, strict=True):
                if params.n > 1:
                    assert params.kwargs.get("temperature", 1.0) > 0, "n > 1 needs sampling"
                ids = request["prompt_token_ids"]
                logprobs = [None] + [{t: Logprob(fake_logprob(ids[:i], t))}
                                     for i, t in enumerate(ids) if i > 0]
                outputs.append(types.SimpleNamespace(
                    outputs=[types.SimpleNamespace(text=fake.completion)
                             for _ in range(params.n)],
                    prompt_logprobs=logprobs if params.prompt_logprobs is not None else None))
            return outputs

    class SamplingParams:
        def __init__(self, n: int = 1, prompt_logprobs: int | None = None, **kwargs: Any):
            self.n, self.prompt_logprobs, self.kwargs = n, prompt_logprobs, kwargs

    def cleanup_dist_env_and_memory(shutdown_ray: bool = False) -> None:
        fake.cleanups += 1

    def destroy_model_parallel() -> None:
        fake.model_parallel_teardowns += 1

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    platforms = types.ModuleType("vllm.platforms")  # the CUDA build's platform
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: False)
    vllm.platforms = platforms
    dist = types.ModuleType("vllm.distributed")
    state = types.ModuleType("vllm.distributed.parallel_state")
    state.cleanup_dist_env_and_memory = cleanup_dist_env_and_memory
    state.destroy_model_parallel = destroy_model_parallel
    dist.parallel_state = state
    vllm.distributed = dist
    return {"vllm": vllm, "vllm.distributed": dist, "vllm.distributed.parallel_state": state,
            "vllm.platforms": platforms}


@pytest.fixture
def fake_vllm(monkeypatch):
    from trl import GRPOConfig  # noqa: F401 - TRL looks for vLLM as it imports: the real one

    fake = FakeVLLM("<answer>1</answer>")
    for name, module in _fake_package(fake).items():
        monkeypatch.setitem(sys.modules, name, module)
    for key in ENV_KEYS:  # restored afterwards, whatever the engine sets
        monkeypatch.setenv(key, "unset")
        monkeypatch.delenv(key)
    return fake


@pytest.fixture
def tiny_path():
    from actrain.runtime.models import resolve_model_path

    return resolve_model_path("tiny-random")


def test_one_process_starts_vllm_s_own_executor(fake_vllm, tiny_path):
    from actrain.runtime.vllm_engine import VLLMEngine

    engine = VLLMEngine(tiny_path, "bfloat16", 3, 0.5)
    kwargs = fake_vllm.engines[0].kwargs
    assert "distributed_executor_backend" not in kwargs
    assert (kwargs["model"], kwargs["seed"], kwargs["gpu_memory_utilization"]) == (tiny_path, 3, 0.5)
    engine.close()


def test_a_launched_process_starts_its_engine_on_its_own_gpu(fake_vllm, tiny_path, monkeypatch):
    from actrain.runtime.vllm_engine import VLLMEngine

    monkeypatch.setenv("WORLD_SIZE", "2")  # process 1 of 2, as `accelerate launch` sets it
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    engine = VLLMEngine(tiny_path, "bfloat16", 0)
    llm = fake_vllm.engines[0]
    assert llm.kwargs["distributed_executor_backend"] == "external_launcher"
    assert llm.kwargs["tensor_parallel_size"] == 1
    assert (llm.env["RANK"], llm.env["LOCAL_RANK"], llm.env["WORLD_SIZE"]) == ("1", "1", "2")
    assert llm.env["MASTER_ADDR"] and llm.env["MASTER_PORT"]
    engine.close()
    # vLLM's cleanup runs (with the launcher's own group kept: `test_vllm_real.py` shows it)
    assert fake_vllm.cleanups == 1


def test_closing_an_engine_shuts_it_down_and_frees_vllm_s_state(fake_vllm, tiny_path, tokenizer):
    from actrain.runtime.vllm_engine import VLLMEngine

    with VLLMEngine(tiny_path, "float32", 0) as engine:
        assert engine.generate(tokenizer, ["hi"], 2, 4, 1.0, 1.0, [], 0) == [
            ["<answer>1</answer>"] * 2]
    assert fake_vllm.engines[0].closed and fake_vllm.cleanups == 1
    engine.close()  # twice: nothing more
    assert fake_vllm.cleanups == 1
    with pytest.raises(RuntimeError, match="was closed"):
        engine.generate(tokenizer, ["hi"], 1, 4, 0.0, 1.0, [], 0)


def test_admissible_actions_of_all_states_are_scored_in_one_call(fake_vllm, tiny_path,
                                                                 tokenizer):
    from actrain.data.alternatives import draw_admissible_alternatives
    from actrain.prompts import actor_prompt, render_state
    from actrain.runtime.vllm_engine import VLLMEngine

    trajectories = [{"task": f"train:{i}", "task_description": "Put the shirt away.",
                     "steps": [{"observation": "You see a shirt.",
                                "admissible": ["inventory", "take shirt", "look"],
                                "expert_action": "take shirt"},
                               {"observation": "You take the shirt.",
                                "admissible": ["inventory", "open wardrobe", "put shirt on bed"],
                                "expert_action": "open wardrobe"}]} for i in range(3)]
    config = load_config(None, ["model=tiny-random", "alternatives.mode=admissible",
                                "alternatives.per_state=2", "alternatives.temperature=0.01"])
    engine = VLLMEngine(tiny_path, "float32", 0)
    states, drawn = draw_admissible_alternatives(engine, tokenizer, trajectories, config, 0)
    assert fake_vllm.engines[0].generate_calls == 1
    # the scores are exact: with a near-zero temperature the draw follows their order
    for record, picked in zip(states, drawn, strict=True):
        prompt = actor_prompt(tokenizer, render_state(record.state, True),
                              config.alternatives.reasoning)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        opening = "<action>" if config.alternatives.reasoning else ""

        def expected(action: str, prompt_ids: list[int] = prompt_ids, opening: str = opening
                     ) -> float:
            ids = tokenizer(f"{opening}{action}</action>", add_special_tokens=False)["input_ids"]
            whole = prompt_ids + ids
            return sum(fake_logprob(whole[:i], whole[i]) for i in range(len(prompt_ids),
                                                                       len(whole)))

        others = [a for a in record.state.admissible if a != record.expert_action]
        assert picked == sorted(others, key=expected, reverse=True)[:2]
    assert engine.score_continuations(tokenizer, ["a", "b"], [[], ["x"]])[0] == []
    engine.close()


def test_the_pipeline_closes_every_engine_before_training_and_after_evaluating(
        fake_vllm, tmp_path, monkeypatch):
    from actrain.run.pipeline import Pipeline
    from actrain.runtime.models import resolve_model_path

    config = load_config(None, [
        f"runs_dir={tmp_path}", "name=r", "model=tiny-random", "dtype=float32", "device=cpu",
        "pipeline=act", "env.id=twx/twc", "data.train_tasks=2", "data.eval_tasks=1",
        "alternatives.mode=admissible", "generation.backend=vllm", "critic.max_new_tokens=4",
        "act.max_steps=1", "act.num_generations=2", "act.prompts_per_step=2",
        "rollout.enabled=false",
    ])
    pipeline = Pipeline(config, ["act"])

    def train_stage(model: Any, tokenizer: Any, inputs: Any, out: Any) -> None:
        fake_vllm.events.append(("train", str(len(fake_vllm.open_engines()))))
        shutil.copytree(resolve_model_path("tiny-random"), out / "checkpoint")

    monkeypatch.setattr(Pipeline, "_train_stage", lambda self, *args: train_stage(*args))
    pipeline.collect()
    pipeline.pairs()
    base = resolve_model_path("tiny-random")
    assert fake_vllm.events == [("start", base)]
    pipeline.train(0, ("act",))
    assert fake_vllm.events[1:] == [("close", base), ("train", "0")]
    pipeline.evaluate(0, "act")
    checkpoint = resolve_model_path(pipeline.layout.checkpoint(0, ("act",)))
    assert fake_vllm.events[3:] == [("start", base), ("close", base), ("start", checkpoint),
                                    ("close", checkpoint)]
    assert fake_vllm.open_engines() == []
    assert (pipeline.layout.dir / "critic").is_dir()


def test_each_prompt_samples_from_its_own_seeds_and_greedy_asks_once(fake_vllm, tiny_path,
                                                                      tokenizer):
    """vLLM seeds sample j of a request with seed + j; one seed for every request would give
    sample k of every state the same random stream. Greedy with n > 1 is refused by vLLM."""
    from actrain.runtime.vllm_engine import VLLMEngine

    engine = VLLMEngine(tiny_path, "float32", 0)
    out = engine.generate(tokenizer, ["a", "b", "c"], 4, 8, 0.7, 0.95, [], seed=10)
    seeds = [p.kwargs["seed"] for p in fake_vllm.engines[0].params]
    assert len(out) == 3 and all(len(samples) == 4 for samples in out)
    streams = [seed + j for seed in seeds for j in range(4)]
    assert len(set(streams)) == 12  # every sample of every prompt: its own seed
    greedy = engine.generate(tokenizer, ["a", "b"], 3, 8, 0.0, 1.0, [], seed=10)
    assert [p.n for p in fake_vllm.engines[0].params] == [1, 1]
    assert [len(samples) for samples in greedy] == [3, 3]
    engine.close()
