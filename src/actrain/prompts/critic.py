"""The judge's prompt: which of two (or, K-way, more) actions shown in a given order is better.

States are shown through `views.CriticView`, which calls these; the answer is read by
`parsers.parse_choice`.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from actrain.prompts.chat import Messages, chat_messages, render_chat, with_instructions
from actrain.prompts.parsers import critic_tag

CRITIC_SYSTEM = "You judge actions in a text game: which of two actions is better for the task?"


def critic_prompt(
    tokenizer: PreTrainedTokenizerBase,
    state_text: str,
    actions: Sequence[str],
    reasoning: bool,
    answer_format: str = "index",
    instructions: str = "",
) -> str:
    """Prompt the model as a judge of two (or, K-way, more) actions shown in a given order."""
    return render_chat(tokenizer, *critic_messages(state_text, actions, reasoning, answer_format,
                                                   instructions))


def _question(actions: Sequence[str], reasoning: bool, answer_format: str) -> str:
    """What the judge is asked after the state: the actions, numbered, and how to answer."""
    shown = "\n".join(f"Action {i}: {a}" for i, a in enumerate(actions, start=1))
    question = f"Which action is better for the task?\n{shown}\n\n"
    if answer_format == "index":
        indices = [f"<answer>{i}</answer>" for i in range(1, len(actions) + 1)]
        answer_hint = ", ".join(indices[:-1]) + f" or {indices[-1]}"
        if reasoning:
            return (f"{question}Think step by step about what each action does, then "
                    f"answer with {answer_hint}.")
        return f"{question}Answer with {answer_hint}."
    copy = "the better action, copied exactly, inside <action></action>"
    if reasoning:
        return f"{question}Think step by step about what each action does, then write {copy}."
    return f"{question}Write {copy}."


def critic_messages(
    state_text: str, actions: Sequence[str], reasoning: bool, answer_format: str = "index",
    instructions: str = "",
) -> tuple[Messages, str]:
    """The judge prompt as chat messages, and the text its answer starts with (prefilled).

    `answer_format` "index" answers with the better action's number in an <answer> tag;
    "action" writes the better action itself, copied, in the agent's own <action> tag (as
    `actor_messages` asks for it), so judging and acting share their output tokens.
    `instructions` (the environment's action syntax) follow the system prompt.
    """
    if not 2 <= len(actions) <= 9:
        raise ValueError("a critic prompt compares two to nine actions")
    tag = critic_tag(answer_format)
    instruction = _question(actions, reasoning, answer_format)
    prefill = "" if reasoning else f"<{tag}>"
    system = with_instructions(CRITIC_SYSTEM, instructions)
    return chat_messages(system, f"{state_text}\n\n{instruction}"), prefill


def injected_rationale(actions: Sequence[str], argued: int) -> str:
    """A rationale arguing for `actions[argued]`: the rationale intervention study injects one
    for the non-expert action, then forces the answer, to see whether the judge follows it."""
    other = ", ".join(f"Action {i + 1}" for i in range(len(actions)) if i != argued)
    return (f"Action {argued + 1} ({actions[argued]}) is the better choice: it makes progress on "
            f"the task, while {other} does not help here.\n")
