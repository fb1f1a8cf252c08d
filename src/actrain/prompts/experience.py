"""Early Experience's own prompts: a teacher explaining the expert's choice (self-reflection),
and the model predicting what the game says next (implicit world modelling)."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from actrain.prompts.chat import THINK_CLOSE, THINK_OPEN, chat_prompt

TEACHER_SYSTEM = "You explain decisions in a text game."
WORLD_SYSTEM = "You play a text game. Predict what the game will say after an action."
RATIONALE_CHARS = 600  # a rationale longer than this is cut at a sentence end


def rationale_prompt(
    tokenizer: PreTrainedTokenizerBase, state_text: str, expert: str, alternative: str,
    expert_outcome: str, alternative_outcome: str,
) -> str:
    """Ask a teacher why the expert's action beats the alternative, having seen where each one
    leads (Early Experience's self-reflection prompt, shortened for small models)."""
    user = (
        f"{state_text}\n\nThe expert chose: {expert}\nThe game then said: "
        f"{expert_outcome.strip()}\n\nAnother option was: {alternative}\nThe game would have "
        f"said: {alternative_outcome.strip()}\n\nIn one or two sentences, explain why "
        f"\"{expert}\" is the better action here."
    )
    return chat_prompt(tokenizer, TEACHER_SYSTEM, user, "")


def clean_rationale(text: str) -> str:
    """A teacher's completion as the thinking an agent is trained to write before its action:
    its first paragraph, without tags (the agent's answer tag must come only after it), at most
    `RATIONALE_CHARS` characters cut at a sentence end. "" when nothing usable is left."""
    first = text.strip().split("\n\n", 1)[0]
    for tag in ("<action>", "</action>", THINK_OPEN, THINK_CLOSE):
        first = first.replace(tag, "")
    first = " ".join(first.split())
    if len(first) > RATIONALE_CHARS:
        cut = first[:RATIONALE_CHARS]
        first = cut[: cut.rfind(". ") + 1] if ". " in cut else cut
    return first.strip()


def world_model_prompt(tokenizer: PreTrainedTokenizerBase, state_text: str, action: str) -> str:
    """Ask the model for the next observation after `action` (Early Experience's implicit world
    modelling task); the completion is the observation the environment returned."""
    user = f"{state_text}\n\nAction: {action}\nWhat does the game say next?"
    return chat_prompt(tokenizer, WORLD_SYSTEM, user, "")
