"""General reasoning benchmarks' prompts (`actrain eval-reasoning`, eval/reasoning.py): MATH-500
and GPQA, asked of the model as they are published, outside any text game."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from actrain.errors import ActrainError
from actrain.prompts.chat import chat_prompt

REASONING_SYSTEM = "You are a helpful assistant. Reason carefully before giving a final answer."
MATH_PROMPT = ("Solve the following math problem step by step. Put your final answer within "
               "\\boxed{{}}.\n\n{problem}")
GPQA_PROMPT = ("Answer the following multiple choice question. Think step by step, then end your "
               "response with a line of the form 'Answer: X', where X is one of A, B, C, D.\n\n"
               "{question}\n\n{options}")


def reasoning_prompt(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    """A benchmark question (MATH-500, GPQA) as a chat prompt; one clear error for a tokenizer
    without a chat template (a base model)."""
    try:
        return chat_prompt(tokenizer, REASONING_SYSTEM, question, "")
    except ValueError as exc:
        raise ActrainError(f"the model's tokenizer cannot render a chat prompt: {exc}") from None
