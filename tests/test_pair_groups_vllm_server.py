"""Pair groups under TRL's vLLM server mode: every row of a group is sampled from the prompt it
shows (G/2 samples of each order), not G samples of the group's first prompt."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

from helpers.scripted_rollout import Tok, pairs
from trl import GRPOTrainer
from trl.generation.vllm_generation import VLLMGeneration

from actrain.stages.choice_grpo import PairGroupRollout

G = 8


class EchoClient:
    """A vLLM server whose every completion is the first token of the prompt it was sampled
    for, so each row shows which prompt it came from."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, int]] = []  # (prompts, n) of each call

    def generate(self, prompts: list[list[int]], n: int, **_: Any) -> dict[str, Any]:
        self.requests.append((len(prompts), n))
        return {"prompt_ids": prompts,
                "completion_ids": [[p[0]] for p in prompts for _ in range(n)],
                "logprobs": [[[0.0]] for _ in prompts for _ in range(n)]}


def server_generation(client: EchoClient) -> VLLMGeneration:
    """TRL's own server-mode generation, with the server replaced by `client`."""
    generation = object.__new__(VLLMGeneration)
    generation.__dict__.update(
        mode="server", accelerator=SimpleNamespace(is_main_process=True, process_index=0),
        vllm_client=client, temperature=1.0, top_p=1.0, top_k=0, min_p=None,
        repetition_penalty=1.0, max_completion_length=4, logprobs=0,
        structured_outputs_regex=None, generation_kwargs={}, enable_sleep_mode=False,
        _llm_weights_sleeping=False,
    )
    return generation


def test_server_mode_samples_each_row_from_the_order_it_shows() -> None:
    client = EchoClient()
    state = SimpleNamespace(global_step=0)
    trainer = SimpleNamespace(
        use_vllm=True, vllm_generation=server_generation(client), state=state,
        _last_loaded_step=0, accelerator=SimpleNamespace(device="cpu", is_main_process=True),
        args=SimpleNamespace(report_to=[]), processing_class=Tok(),
    )
    trainer._generate_single_turn = partial(GRPOTrainer._generate_single_turn, trainer)
    rollout = PairGroupRollout(pairs("AB"), Tok(), G, one_token=False)
    out = rollout(["A"] * G + ["B"] * G, trainer)
    shown = [chr(ids[0]) for ids in out["prompt_ids"]]
    sampled_from = [chr(ids[0]) for ids in out["completion_ids"]]
    half = G // 2
    assert shown == ["A"] * half + ["a"] * half + ["B"] * half + ["b"] * half
    assert sampled_from == shown  # rows G/2..G-1 sampled from the expert-second prompt
    assert out["label"] == ([0] * half + [1] * half) * 2
    assert client.requests == [(2 * G, 1)]  # one completion per row, not G per group
