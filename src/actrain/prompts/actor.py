"""The agent's prompt and the completion IL trains it to write.

When reasoning is off, the assistant turn is prefilled with the opening tag, so the model only
has to write the action (the paper's "direct choice" ablation; it also sidesteps the format
wall of very small models). States are shown through `views.ActorView`, which calls these.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from actrain.config.schema import IL_THINKING
from actrain.prompts.chat import (
    Messages,
    chat_messages,
    render_chat,
    thinking_prefix,
    with_instructions,
)

# Kept short on purpose: on a CPU, prompt length dominates generation and training time.
ACTOR_SYSTEM = "You play a text game. Choose the next action that makes progress on the task."


def actor_prompt(
    tokenizer: PreTrainedTokenizerBase,
    state_text: str,
    reasoning: bool,
    instructions: str = "",
) -> str:
    """Prompt the model as the agent: it answers with its next action in an <action> tag."""
    return render_chat(tokenizer, *actor_messages(state_text, reasoning, instructions))


def actor_messages(
    state_text: str, reasoning: bool, instructions: str = ""
) -> tuple[Messages, str]:
    """The agent prompt as chat messages, and the text its answer starts with (prefilled).
    `instructions` (the environment's action syntax) follow the system prompt."""
    if reasoning:
        instruction = (
            "Think briefly about what to do next, then write your next action inside "
            "<action></action>, for example <action>open door</action>."
        )
        prefill = ""
    else:
        instruction = "Write your next action inside <action></action>."
        prefill = "<action>"
    system = with_instructions(ACTOR_SYSTEM, instructions)
    return chat_messages(system, f"{state_text}\n\n{instruction}"), prefill


def actor_target(
    tokenizer: PreTrainedTokenizerBase, prompt: str, action: str, reasoning: bool,
    thinking: str = "empty",
) -> str:
    """The completion IL trains the agent to write after `prompt` (an `actor_prompt`): the
    expert action closed by its tag.

    Without reasoning the prompt ends in the prefilled opening tag, so the target is the action
    alone. With reasoning the target starts where the model would think: `thinking` "empty"
    opens it with a rationale-free thinking block where the prompt can think
    (`thinking_prefix`), "none" writes the action tag straight away.
    """
    if thinking not in IL_THINKING:
        raise ValueError(f"unknown IL thinking {thinking!r}: use {' or '.join(IL_THINKING)}")
    if not reasoning:
        return f"{action}</action>"
    prefix = thinking_prefix(tokenizer, prompt) if thinking == "empty" else ""
    return f"{prefix}<action>{action}</action>"
