"""Shared fixtures. Tests never reach a model hub: HF_HUB_OFFLINE is forced on."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    from actrain.models import load_tokenizer

    return load_tokenizer("tiny-random")


@pytest.fixture(scope="session")
def tiny_model():
    from actrain.models import load_model

    return load_model("tiny-random")


@pytest.fixture(scope="session")
def twc_env():
    from actrain.envs import make

    env = make("twx/twc")
    yield env
    env.close()
