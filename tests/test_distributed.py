"""`accelerate launch` with 2 processes (gloo on a CPU host, NCCL where there are GPUs): collection, pairs, the ACT stage and critic
evaluation split across ranks and gathered; the same data and evaluations as one process; only
rank 0 writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actrain.runtime import distributed

HELPER = Path(__file__).parent / "helpers" / "pipeline_run.py"
pytest.importorskip("textworld_express")


def test_one_process_shards_nothing():
    assert distributed.world() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.map_sharded(lambda xs: [x * 2 for x in xs], [1, 2, 3]) == [2, 4, 6]
    with pytest.raises(ValueError, match="2 results for 3 items"):
        distributed.map_sharded(lambda xs: xs[:2], [1, 2, 3])


def _run(command: list[str], run_dir: Path, log_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([*command, str(HELPER), str(run_dir), str(log_dir)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    _run([sys.executable], root / "single", root / "single-log")
    # accelerate's torchrun launcher; with no GPU visible the 2 processes use gloo on the CPU
    # (`--cpu` would start a single process)
    _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
          "--main_process_port", "29517"], root / "launched", root / "launched-log")
    return root


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_gathered_data_and_evaluations_equal_a_single_process_run(runs):
    single, launched = runs / "single", runs / "launched"
    for name in ("trajectories/train.jsonl", "trajectories/id_test.jsonl",
                 "pairs/train.jsonl", "pairs/id_test.jsonl", "critic/base.predictions.jsonl"):
        assert _lines(launched / name) == _lines(single / name), name
    assert json.loads((launched / "critic" / "base.json").read_text()) == json.loads(
        (single / "critic" / "base.json").read_text())
    # the ACT stage trained under DDP and its checkpoint was evaluated
    assert list((launched / "seed0" / "act" / "checkpoint").glob("*.safetensors"))
    assert (launched / "critic" / "seed0-act.json").exists()
    assert "train seed0-act" in json.loads((launched / "stages.json").read_text())


def test_only_rank_zero_wrote_files(runs):
    log = runs / "launched-log"
    rank0 = json.loads((log / "writes-0.json").read_text())
    rank1 = json.loads((log / "writes-1.json").read_text())
    assert rank1 == []
    assert any(w.endswith("stages.json") for w in rank0)
    assert any(w.endswith("pairs/train.jsonl") for w in rank0)


def test_main_first_runs_the_work_once_per_process():
    calls = []
    assert distributed.main_first(lambda: calls.append(1) or "done") == "done"
    assert calls == [1]


def test_progress_lines_come_from_the_main_process_only(monkeypatch):
    # every launched rank runs the same steps: 8 copies of each line hid the one that matters
    import logging

    from actrain.runtime.logs import MainRankOnly

    keep = MainRankOnly()

    def shown(level: int, rank: str) -> str | None:
        monkeypatch.setenv("RANK", rank)
        monkeypatch.setenv("WORLD_SIZE", "2")
        record = logging.LogRecord("actrain", level, __file__, 1, "collect %s", ("done",), None)
        return record.getMessage() if keep.filter(record) else None

    assert shown(logging.INFO, "0") == "collect done"
    assert shown(logging.INFO, "1") is None
    assert shown(logging.WARNING, "1") == "[rank 1] collect done"
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "3")  # a single process that happens to carry RANK
    assert keep.filter(logging.LogRecord("actrain", logging.INFO, __file__, 1, "x", (), None))


def test_a_main_only_step_longer_than_the_collective_timeout_does_not_stop_the_others(tmp_path):
    # ranks 1..N waited for a main-only step (outcomes' replays, hours on ALFWorld) at a barrier
    # on the default group, whose collective_timeout ended the run; here 12 s against 5 s
    from helpers.launch import run_ranks

    run_ranks(Path(__file__).parent / "helpers" / "slow_main_step.py", [str(tmp_path)],
              timeout=120)
    assert json.loads((tmp_path / "rank-1.json").read_text()) == {"rank": 1, "world": 2}
