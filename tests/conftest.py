"""Shared fixtures, and the walls that keep the suite independent of the checkout.

Tests never reach a model hub (HF_HUB_OFFLINE is forced on). Every test runs in its own
temporary working directory, so a config's default `runs_dir: runs` lands there and never in
the checkout, where `make demo` or `make compare` may have left a run folder. Tests keep their
own model cache (`$ACTRAIN_TEST_CACHE`, default `~/.cache/actrain-tests`), apart from the one a
user's runs fill. An audit hook fails any test that opens, lists or makes anything under the
checkout's `runs/` or the user's model cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_USER_CACHE = Path(os.environ.get("ACTRAIN_CACHE", Path.home() / ".cache" / "actrain"))
TEST_CACHE = Path(os.environ.get("ACTRAIN_TEST_CACHE", Path.home() / ".cache" / "actrain-tests"))

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["ACTRAIN_CACHE"] = str(TEST_CACHE)

import pytest  # noqa: E402

# The folders no test may touch: the checkout's run folders (and those of the directory pytest
# was started from, if another) and the user's model cache, unless it is the tests' own.
GUARDED = sorted({str(REPO / "runs"), str(Path.cwd().resolve() / "runs"), str(_USER_CACHE.resolve())}
                 - {str(TEST_CACHE.resolve())})
_AUDITED = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.rename", "os.replace", "os.remove",
            "os.rmdir", "shutil.rmtree", "shutil.copytree", "os.symlink"}
touches: list[tuple[str, str]] = []


def _guarded_path(path: object) -> str | None:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None  # a file descriptor or None: nothing to resolve
    text = os.path.abspath(os.fsdecode(path))
    for root in GUARDED:
        if text == root or text.startswith(root + os.sep):
            return text
    return None


def _audit(event: str, args: tuple) -> None:
    if event not in _AUDITED or not args:
        return
    for candidate in args[:2]:  # rename / replace / copytree name a source and a target
        hit = _guarded_path(candidate)
        if hit is not None:
            touches.append((event, hit))


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def _isolated_from_the_checkout(tmp_path, monkeypatch):
    """Run each test in its own empty directory, and fail it if it touched a guarded folder."""
    monkeypatch.chdir(tmp_path)
    seen = len(touches)
    yield
    new = touches[seen:]
    if new:
        event, path = new[0]
        pytest.fail(f"the test reached outside its own folders: {event} {path} "
                    f"({len(new)} such calls); use tmp_path and the test model cache")


@pytest.fixture(scope="session")
def tokenizer():
    from actrain.runtime.models import load_tokenizer

    return load_tokenizer("tiny-random")


@pytest.fixture(scope="session")
def tiny_model():
    from actrain.runtime.models import load_model

    return load_model("tiny-random")


@pytest.fixture(scope="session")
def twc_env():
    from actrain.envs import make

    env = make("twx/twc")
    yield env
    env.close()
