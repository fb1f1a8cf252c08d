"""Generation on a model whose weights are split across processes (ZeRO-3, FSDP): every forward
is a collective, so every process must make the same `generate` calls and decode in step.

A world of two processes is faked (each rank run in turn); `tests/helpers/synced_critic.py`
runs a real one, with a model whose forward is a collective."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import DistributedType
from helpers.launch import run_ranks
from helpers.pairs import make_pair

from actrain.config.schema import CriticConfig, EvalConfig
from actrain.runtime import distributed

HELPER = Path(__file__).parent / "helpers" / "synced_critic.py"


class FakeModel(torch.nn.Module):
    """Answers "1</answer>" to every prompt and records how it was asked."""

    def __init__(self, answer: list[int]) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.answer = answer
        self.calls: list[dict] = []

    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
        self.calls.append({"rows": input_ids.shape[0], **kwargs})
        tail = torch.tensor(self.answer).expand(input_ids.shape[0], -1)
        return torch.cat([input_ids, tail], dim=1)


def fake_world(monkeypatch, rank: int, size: int = 2) -> None:
    """This process is `rank` of `size`; the others' results are a fixed filler."""
    monkeypatch.setattr(distributed, "world", lambda: size)
    monkeypatch.setattr(distributed, "rank", lambda: rank)

    def gather(local, total):
        merged = [["filler"]] * total
        merged[rank::size] = list(local)
        return merged

    monkeypatch.setattr(distributed, "gather", gather)


def _trainer(model: torch.nn.Module, kind: DistributedType, stage: int = 0, **args):
    state = SimpleNamespace(distributed_type=kind,
                            deepspeed_plugin=SimpleNamespace(zero_stage=stage))
    return SimpleNamespace(
        model_wrapped=model, accelerator=SimpleNamespace(state=state),
        args=SimpleNamespace(gradient_checkpointing_kwargs=None, **args),
    )


def _evaluate_every_rank(monkeypatch, tokenizer, tmp_path, trainer_of, pairs: int = 5):
    """Run the critic-curve callback once on each rank of a faked world of two; returns each
    rank's model (with its `generate` calls) and the arguments the unwrapping was entered with."""
    import trl.models

    from actrain.stages.act import CriticCurveCallback

    unwrapped = []

    @contextmanager
    def unwrap(model, accelerator, gather_deepspeed3_params=True, **kwargs):
        unwrapped.append((model, gather_deepspeed3_params))
        yield model

    monkeypatch.setattr(trl.models, "unwrap_model_for_generation", unwrap)
    inputs = SimpleNamespace(critic=CriticConfig(max_new_tokens=4),
                             eval=EvalConfig(batch_size=2),
                             trainer=SimpleNamespace(dtype="float32", seed=0), instructions="")
    answer = tokenizer("1</answer>", add_special_tokens=False)["input_ids"]
    models = []
    for rank in range(2):
        fake_world(monkeypatch, rank)
        model = FakeModel(answer)
        callback = CriticCurveCallback(1, tokenizer, [make_pair(i) for i in range(pairs)],
                                       inputs, tmp_path / f"curve{rank}.jsonl")
        callback.bind(trainer_of(model))
        callback.on_step_end(None, SimpleNamespace(global_step=1), None, model=model)
        models.append(model)
    return models, unwrapped


@pytest.mark.parametrize("kind, stage", [(DistributedType.FSDP, 0),
                                         (DistributedType.DEEPSPEED, 3)])
def test_split_weights_make_every_rank_generate_in_step(monkeypatch, tokenizer, tmp_path,
                                                        kind, stage):
    # 5 prompts over 2 ranks in batches of 2: shards of 3 and 2 would take 2 calls and 1
    models, unwrapped = _evaluate_every_rank(
        monkeypatch, tokenizer, tmp_path, lambda m: _trainer(m, kind, stage))
    counts = [len(m.calls) for m in models]
    assert counts == [2, 2]
    assert all(call["synced_gpus"] is True for m in models for call in m.calls)
    assert [sum(c["rows"] for c in m.calls) for m in models] == [3, 3]  # one padded prompt
    # ZeRO-3 weights gathered once per evaluation, as TRL generates
    assert unwrapped == [(models[0], True), (models[1], True)]


def test_whole_weights_generate_on_their_own(monkeypatch, tokenizer, tmp_path):
    models, unwrapped = _evaluate_every_rank(
        monkeypatch, tokenizer, tmp_path, lambda m: _trainer(m, DistributedType.MULTI_GPU))
    assert [len(m.calls) for m in models] == [2, 1]  # DDP: no collective in a forward
    assert not any("synced_gpus" in call for m in models for call in m.calls)
    assert len(unwrapped) == 2


def test_the_trainers_gather_setting_is_kept(monkeypatch, tokenizer, tmp_path):
    _, unwrapped = _evaluate_every_rank(
        monkeypatch, tokenizer, tmp_path,
        lambda m: _trainer(m, DistributedType.DEEPSPEED, 3, ds3_gather_for_generation=False))
    assert [gather for _, gather in unwrapped] == [False, False]


def test_even_shards_give_the_same_result_as_one_process(monkeypatch):
    items = list(range(7))
    seen = {}
    for rank in range(3):
        fake_world(monkeypatch, rank, 3)
        seen[rank] = []

        def work(mine, rank=rank):
            seen[rank].append(list(mine))
            return [x * 10 for x in mine]

        merged = distributed.map_sharded(work, items, even=True)
        assert merged[rank::3] == [x * 10 for x in items[rank::3]]
    assert seen == {0: [[0, 3, 6]], 1: [[1, 4, 0]], 2: [[2, 5, 0]]}
    monkeypatch.undo()
    assert distributed.map_sharded(lambda xs: [x + 1 for x in xs], items, even=True) == list(range(1, 8))
    assert distributed.map_sharded(lambda xs: xs, [], even=True) == []


def test_two_processes_evaluate_in_step_on_a_model_whose_forward_is_a_collective(tmp_path):
    """Real processes (gloo): the model's every forward is an all-reduce, as FSDP's all-gathers;
    one rank's extra call or early end would leave the other waiting until the timeout."""
    run_ranks(HELPER, [str(tmp_path)])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["launched"] == result["single"]
