"""A pair-group rollout whose completions are scripted per pair, with a log of its generation
calls: pair A's samples always answer 1 (half right: the group has variance), every other pair's
samples always name the expert's position (all right: a flat group). A pair's two renderings are
its key (expert first) and the key in lower case."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from actrain.stages.choice_grpo import PairGroupRollout


class Tok:
    """One id per character; a completion decodes to its first id, e.g. "1"."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)

    def batch_decode(self, rows: list[list[int]], skip_special_tokens: bool = True) -> list[str]:
        return [str(r[0]) for r in rows]


def correct(texts: list[str], actions: list[list[str]], labels: list[int]) -> list[bool]:
    return [int(t) - 1 == y for t, y in zip(texts, labels, strict=True)]


def pairs(keys: Iterable[str] = "ABCD") -> dict[str, dict[str, Any]]:
    return {k: {"prompts": [k, k.lower()], "actions": [f"{k}-x", f"{k}-y"]} for k in keys}


class Scripted(PairGroupRollout):
    """Records the number of rows of every generation call in `calls`."""

    def __init__(self, *args: Any, draws: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []
        picks = iter(draws)
        self.rng.choice = lambda keys: next(picks)  # the replacement pairs, in order

    def _complete(self, trainer: Any, prompt_ids: list[list[int]],
                  log: bool) -> tuple[list[list[int]], None]:
        self.calls.append(len(prompt_ids))
        out = []
        for ids in prompt_ids:
            text = self.tokenizer.decode(ids)
            if text.upper() == "A":
                out.append([1])  # always position 1
            else:
                out.append([1] if text.isupper() else [2])  # always right
        return out, None


def rollout(size: int = 4, tries: int = 3, draws: Iterable[str] = ()) -> Scripted:
    return Scripted(pairs(), Tok(), size, one_token=True, correct=correct, resample_tries=tries,
                    draws=draws)


def trainer() -> SimpleNamespace:
    """The parts of a `GRPOTrainer` the rollout touches; `logged` holds its metrics."""
    logged: dict[str, float] = {}
    return SimpleNamespace(processing_class=Tok(), _log_metric=logged.__setitem__, logged=logged,
                           accelerator=SimpleNamespace(device="cpu"))
