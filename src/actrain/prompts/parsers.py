"""How a model's answers are read: strict parsers that never raise.

The answer is read after the thinking block (if any), up to the first closing tag (the same stop
rule generation uses); anything that is not a well-formed tag with a usable content there is a
format failure (`None`).
"""

from __future__ import annotations

from collections.abc import Sequence

from actrain.prompts.chat import THINK_CLOSE, THINK_OPEN

# The tags that close an answer: generation stops at them, and parsing reads up to them.
ANSWER_CLOSES = ("</answer>", "</action>")
# The tag a critic answers in, by `critic.answer_format`: "index" names the better action's
# number in <answer>; "action" writes the action itself in the agent's <action> tag.
CRITIC_TAGS = {"index": "answer", "action": "action"}
# Above this share of answers cut off while thinking, a score measures the token budget more than
# the model (and a model that thinks shorter gains by it): every report and evaluation warns.
TRUNCATION_WARNING = 0.05


def normalise_action(text: str) -> str:
    """Case- and whitespace-insensitive form used to compare actions."""
    return " ".join(text.strip().lower().split()).rstrip(".")


def first_word(action: str) -> str:
    """An action's kind: its first word, lower-cased (`put`, `take`, `inventory`)."""
    return (action.split() or ["(empty)"])[0].lower()


def critic_tag(answer_format: str) -> str:
    """The tag a critic's answer is written in ("answer" or "action"); one error for any other
    format."""
    try:
        return CRITIC_TAGS[answer_format]
    except (KeyError, TypeError):
        raise ValueError(f"unknown critic answer_format {answer_format!r}: use "
                         f"{' or '.join(repr(f) for f in CRITIC_TAGS)}") from None


def critic_stop(answer_format: str) -> str:
    """The closing tag that ends a critic's answer in `answer_format`: where its generation
    stops, what a trained answer ends with, and how far parsing reads."""
    return f"</{critic_tag(answer_format)}>"


def _answer_span(
    text: str, think_open: bool, stops: Sequence[str]
) -> tuple[int, int] | None:
    """`(start, end)` of `answer_region`, or None for a completion cut off while thinking."""
    lowered = text.lower()
    close = lowered.find(THINK_CLOSE)
    if think_open:  # the prompt opened the block: nothing is an answer before it closes
        return None if close < 0 else (close + len(THINK_CLOSE), len(text))
    tags = [i for i in (lowered.find(THINK_OPEN), close) if i >= 0]
    ends = [i + len(s) for s in stops if s and (i := lowered.find(s.lower())) >= 0]
    if ends and (not tags or min(ends) <= min(tags)):
        # Answered before any thinking: generation stops here, so what follows is run-on text.
        return 0, min(ends)
    if close >= 0:
        return close + len(THINK_CLOSE), len(text)
    return None if tags else (0, len(text))


def answer_region(
    text: str, think_open: bool = False, stops: Sequence[str] = ()
) -> str | None:
    """Where an answer is read: after the thinking block if there is one, else the whole text.

    Reasoning models (Qwen3, DeepSeek-R1) think inside `<think>...</think>` first and often try
    answers there ("<answer>1</answer> or <answer>2</answer>?"); those must not count. The block
    ends at the first `</think>`. A block opened and never closed means the completion was cut
    while thinking: `None`, a truncated completion. `think_open`: the prompt opened the block
    (`opens_thinking`), so the completion starts inside it and without `</think>` is truncated.
    `stops` (the answer's closing tags): an answer closed before any thinking tag ends the region,
    as it ends generation, so a completion reads the same whether it stopped there or ran on
    ("<answer>1</answer><think>...").
    """
    span = _answer_span(text, think_open, stops)
    return None if span is None else text[span[0] : span[1]]


def cut_at_stop(text: str, stops: Sequence[str], think_open: bool = False) -> str:
    """`text` up to and including the first of `stops` written after the thinking block.

    The stop rule of `generation.StopOnText`, applied to a finished text: for engines whose own
    stop strings would also fire inside a thinking block (vLLM).
    """
    span = _answer_span(text, think_open, stops)
    if span is None or not stops:
        return text
    start = span[0]
    lowered = text[start:].lower()
    ends = [i + len(s) for s in stops if (i := lowered.find(s.lower())) >= 0]
    return text[: start + min(ends)] if ends else text


def truncated_thinking(
    text: object, think_open: bool = False, stops: Sequence[str] = ANSWER_CLOSES
) -> bool:
    """True for a completion cut off inside its thinking block (see `answer_region`)."""
    return isinstance(text, str) and answer_region(text, think_open, stops) is None


def _single_tag(tag: str, text: object, prefill: str, think_open: bool = False) -> str | None:
    """The content of the answer's `<tag>`, read after thinking and up to the first `</tag>`.

    The first closing tag ends the answer, as the stop rule ends generation (`generate(stop=)`),
    so a completion reads the same whether it was stopped there (evaluation, rollouts) or ran on
    (GRPO). Linear in the length of the text: plain `find`s, no backtracking regex.
    """
    if not isinstance(text, str):
        return None
    opening, closing = f"<{tag}>", f"</{tag}>"
    region = answer_region(prefill + text, think_open, (closing,))
    if region is None:
        return None
    lowered = region.lower()
    end = lowered.find(closing)
    if end < 0:
        if prefill and "<" not in text and "\n" not in text.strip():
            # A prefilled tag may be closed by the end of the turn itself ("2<|im_end|>"):
            # accept a bare single line, nothing else.
            return text.strip() or None
        return None
    start = lowered.find(opening)
    if start < 0 or start > end:
        return None
    content = region[start + len(opening) : end]
    if opening in content.lower():
        return None  # nested or repeated opening tags: malformed, not a wrong answer
    return content.strip() or None


def parse_action(
    completion: str, prefilled: bool = False, think_open: bool = False
) -> str | None:
    """The action inside the single <action> tag, or None for a format failure.

    `think_open`: the prompt opened the thinking block (`opens_thinking`)."""
    return _single_tag("action", completion, "<action>" if prefilled else "", think_open)


def parse_choice(
    completion: str,
    actions: Sequence[str],
    answer_format: str = "index",
    prefilled: bool = False,
    think_open: bool = False,
) -> int | None:
    """Which of the shown actions (0, 1, ...) the completion picks; None if malformed.

    "index" reads the number in the <answer> tag; "action" reads the <action> tag and picks the
    one shown action equal to it (`normalise_action`: case, spacing and a final full stop aside).
    Malformed means: thinking never closed, no answer tag after it, nested tags, or a content
    that names neither or both. Text after the first closing tag is ignored. `think_open`: the
    prompt opened the thinking block (`opens_thinking`).
    """
    tag = critic_tag(answer_format)
    content = _single_tag(tag, completion, f"<{tag}>" if prefilled else "", think_open)
    if content is None:
        return None
    if answer_format == "index":
        cleaned = content.strip().lower().removeprefix("action").strip().strip(".")
        positions = {str(i + 1): i for i in range(len(actions))}
        return positions.get(cleaned)
    wanted = normalise_action(content)
    hits = [i for i, action in enumerate(actions) if normalise_action(action) == wanted]
    return hits[0] if len(hits) == 1 else None
