"""The suite is independent of the checkout: a finished run folder where pytest starts changes
nothing, and a test that reaches into the checkout's `runs/` is failed by the guard."""

import contextlib
import json
import os
import subprocess
import sys

import conftest
from conftest import REPO

# The tests that read a run folder when one exists (plan counts its expert states) and that load
# the shipped configs, whose default name is the demo's own run folder.
RUN_FOLDER_READERS = ["tests/test_stage_lengths.py", "tests/test_plan.py"]


def plant_finished_demo_run(root):
    """A small stand-in for what `make demo` leaves in `runs/quickstart`: 46 expert states where
    a config's defaults assume 50, pairs, a critic figure and a results file."""
    run = root / "runs" / "quickstart"
    (run / "trajectories").mkdir(parents=True)
    steps = [{"observation": "o", "action": "look around", "admissible": ["look around"]}] * 2
    lines = [json.dumps({"task": f"train-{i}", "steps": steps}) for i in range(23)]
    (run / "trajectories" / "train.jsonl").write_text("\n".join(lines) + "\n")
    (run / "pairs").mkdir()
    pair = {"state": "s", "chosen": "a", "rejected": "b", "task": "t"}
    (run / "pairs" / "train.jsonl").write_text(json.dumps(pair) + "\n")
    (run / "critic").mkdir()
    (run / "critic" / "base.json").write_text(json.dumps({"accuracy": 0.5}))
    (run / "results.json").write_text(json.dumps({"methods": ["il"], "seeds": [0]}))
    return run


def test_tests_that_read_run_folders_pass_beside_a_finished_demo_run(tmp_path):
    plant_finished_demo_run(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO),
         "-c", str(REPO / "pyproject.toml"), *[str(REPO / t) for t in RUN_FOLDER_READERS]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_the_guard_sees_a_test_reaching_into_the_checkout_runs():
    seen = len(conftest.touches)
    with contextlib.suppress(OSError):  # absent in a fresh clone: the call is seen before
        os.listdir(REPO / "runs" / "quickstart")
    caught = conftest.touches[seen:]
    del conftest.touches[seen:]  # this test's own reach is on purpose
    assert caught and caught[0][0] == "os.listdir"
    assert caught[0][1] == str(REPO / "runs" / "quickstart")


def test_each_test_starts_in_its_own_empty_folder(tmp_path):
    assert os.getcwd() == str(tmp_path) and list(tmp_path.iterdir()) == []
    assert os.environ["ACTRAIN_CACHE"] == str(conftest.TEST_CACHE)
