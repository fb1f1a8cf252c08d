"""When a generation stops: at the first stop text written after the model's thinking block.

`generate` passes this to transformers' `generate` on every batch with stop texts; it lives apart
from the batching because it is a decoding rule of its own, the token-by-token form of the
parsers' `prompts.answer_region`, and is tested as one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria

from actrain.prompts import THINK_CLOSE, THINK_OPEN


class StopOnText(StoppingCriteria):
    """Stop each row at the first of `stops` written after its thinking block, if it has one.

    The same rule as the parsers' (`prompts.answer_region`): a tag closed while the model is still
    thinking ("<answer>1</answer> or <answer>2</answer>?" inside `<think>`) does not stop it.
    Rows whose prompt already opened the block (`think_open`) start inside it. Decoding only the
    last few tokens of each row is much cheaper than transformers' `stop_strings`, which
    preprocesses the whole vocabulary on every `generate` call; and only rows whose newest token
    could complete a stop or the thinking block are decoded at all (each token's text is decoded
    once and remembered), since `generate` calls this after every token.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_len: int,
        window: int = 8, think_open: Sequence[bool] = (),
    ) -> None:
        self.tokenizer, self.stops, self.prompt_len, self.window = (
            tokenizer, [s.lower() for s in stops], prompt_len, window,
        )
        self.phase = ["thinking" if t else "start" for t in think_open]
        self.done: list[bool] = []
        watched = [*self.stops, THINK_CLOSE]
        # A text a step completes ends in the newest token, so that token shows its last
        # character (in either case; decoding may drop spaces, so those always count).
        last = {s[-1] if s else " " for s in watched}  # an empty stop is met anywhere
        self.ends = None if any(c.isspace() for c in last) else last | {c.upper() for c in last}
        self.can_end: dict[int, bool] = {}

    def _advance(self, row: int, text: str, written: int) -> str:
        """Update the row's phase from its latest text; return where a stop may be read."""
        phase = self.phase[row]
        if phase == "start":
            head = text.lstrip()
            if written > self.window or (head and not THINK_OPEN.startswith(head[:7])):
                phase = "answering"
            elif head.startswith(THINK_OPEN):
                phase = "thinking"
        if phase == "thinking" and THINK_CLOSE in text:
            phase = "answering"
        self.phase[row] = phase
        if phase != "answering":
            return ""
        return text.rpartition(THINK_CLOSE)[2]

    def _may_end(self, token: int) -> bool:
        """Whether `token` may complete a stop or the thinking block (a part of a character
        may complete one with the tokens before it)."""
        if self.ends is None:
            return True
        known = self.can_end.get(token)
        if known is None:
            piece = self.tokenizer.decode([token], skip_special_tokens=True)
            text = piece + piece.lower()
            known = "\ufffd" in piece or any(c in text for c in self.ends)
            self.can_end[token] = known
        return known

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **_: object
    ) -> torch.BoolTensor:
        rows = input_ids.shape[0]
        if len(self.phase) != rows:
            self.phase = ["start"] * rows
        if len(self.done) != rows:
            self.done = [False] * rows
        written = input_ids.shape[1] - self.prompt_len
        windows = input_ids[:, self.prompt_len :][:, -self.window :]
        # A stopped row stays stopped in `generate`; a row past its start phase can only change
        # when its newest token may complete something.
        check = [r for r, token in enumerate(windows[:, -1].tolist()) if not self.done[r] and (
            self.phase[r] == "start" or self._may_end(token))]
        if check:
            texts = self.tokenizer.batch_decode(
                windows if len(check) == rows else windows[check], skip_special_tokens=True
            )
            for row, text in zip(check, texts, strict=True):
                region = self._advance(row, text.lower(), written)
                self.done[row] = any(s in region for s in self.stops)
        return torch.tensor(self.done, device=input_ids.device)
