"""Chat templates: the one place a prompt goes through the model's template, and thinking blocks.

Every prompt of a run is rendered here, once, to a plain string, so that the very same text is
used for sampling alternatives, training and evaluation. Thinking models frame their answers
with a thinking block; what such a block looks like where the template writes one is read from
the template itself (`template_empty_thinking`).
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from actrain.errors import ActrainError

Messages = list[dict[str, str]]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# What IL writes before the expert action where the prompt leaves the agent free to think
# (`data.il_thinking`): "empty", a rationale-free thinking block; "none", the action alone.
# Qwen3's own rationale-free block: what its template writes for `enable_thinking: false`.
EMPTY_THINKING = "<think>\n\n</think>\n\n"


def set_chat_template_kwargs(tokenizer: PreTrainedTokenizerBase, kwargs: dict) -> None:
    """Template switches (e.g. Qwen3's `enable_thinking`) for every prompt rendered with it.

    They ride on the run's tokenizer because every prompt of a run, for any stage, is rendered
    from that tokenizer; `models.load_model` sets them from the config's `chat_template_kwargs`.
    """
    tokenizer.actrain_chat_template_kwargs = dict(kwargs)


def chat_messages(system: str, user: str) -> Messages:
    """A system turn and a user turn: the shape of every actrain prompt."""
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def with_instructions(system: str, instructions: str) -> str:
    """`system`, then an environment's own instructions (its action syntax,
    `TextEnv.instructions`) on a line of their own; `system` itself where there are none, so
    that environments without instructions keep the prompts (and keys) they always had."""
    return f"{system}\n{instructions.strip()}" if instructions.strip() else system


def render_chat(tokenizer: PreTrainedTokenizerBase, messages: Messages, prefill: str) -> str:
    """Messages through the model's chat template, then the answer's prefilled opening."""
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True,
        **getattr(tokenizer, "actrain_chat_template_kwargs", {}),
    )
    return text + prefill


def chat_prompt(
    tokenizer: PreTrainedTokenizerBase, system: str, user: str, prefill: str = ""
) -> str:
    """`render_chat` of one system and one user turn."""
    return render_chat(tokenizer, chat_messages(system, user), prefill)


def opens_thinking(prompt: object) -> bool:
    """Whether a rendered prompt leaves its completion inside a thinking block.

    Templates such as DeepSeek-R1-Distill and Qwen3-*-Thinking-2507 end the generation prompt
    with "<think>\n", so the completion starts mid-thought and only closes the block. The same
    rule as the HF generation path's stop criteria (`generation.generate`), so that a completion
    is parsed as it was generated.
    """
    return isinstance(prompt, str) and prompt.rstrip().lower().endswith(THINK_OPEN)


def template_thinks(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the model's chat template mentions thinking blocks at all (Qwen3, SmolLM3,
    DeepSeek-R1-Distill): read from the template's text, as no tokenizer declares it."""
    template = getattr(tokenizer, "chat_template", None)
    texts = template.values() if isinstance(template, dict) else [template]
    return any(isinstance(t, str) and THINK_OPEN in t for t in texts)


def template_empty_thinking(tokenizer: PreTrainedTokenizerBase) -> str:
    """The block the template adds to its generation prompt when thinking is switched off
    (Qwen3: `EMPTY_THINKING`), or "" for one that adds none.

    Asked of the template itself, so that a template that only mentions `<think>` (to strip
    it from past turns, as Qwen3-Instruct-2507's does) and never thinks gets no block.
    """
    if not template_thinks(tokenizer):
        return ""
    messages = chat_messages("s", "u")
    switches = getattr(tokenizer, "actrain_chat_template_kwargs", {})
    rendered = [tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                              **{**switches, **extra})
                for extra in ({}, {"enable_thinking": False})]
    plain, off = rendered
    block = off[len(plain):] if off.startswith(plain) else ""
    return block if THINK_OPEN in block.lower() and THINK_CLOSE in block.lower() else ""


def thinking_prefix(tokenizer: PreTrainedTokenizerBase, prompt: str) -> str:
    """The rationale-free thinking block a target written right after `prompt` opens with.

    A thinking model trained on bare actions right after its generation prompt learns to drop
    the thinking block its template frames every answer with. So the target writes the block
    the template itself writes when thinking is off: nothing where the prompt already holds a
    closed block (Qwen3 with `enable_thinking: false`), the block's end where the prompt opened
    it (R1-style templates), the template's block where the prompt leaves the model free to
    think, and nothing for a template without thinking.
    """
    if prompt.rstrip().lower().endswith(THINK_CLOSE):
        return ""
    if opens_thinking(prompt):
        opened = prompt[prompt.lower().rfind(THINK_OPEN):]
        return (EMPTY_THINKING[len(opened):] if EMPTY_THINKING.startswith(opened)
                else f"{THINK_CLOSE}\n\n")
    return template_empty_thinking(tokenizer)


def trl_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], stage: str = "RL"
) -> list[str]:
    """`prompts` spelled so that TRL's `tokenizer(text=prompt)` gives the ids of
    `tokenizer(prompt, add_special_tokens=False)`, the ids every other path prompts with
    (rollouts, pair groups). TRL tokenizes a string prompt with the tokenizer's special tokens.

    The special tokens the tokenizer adds are what the chat template already wrote (a leading
    BOS), so that text is dropped from the string. A string prompt is the documented way to give
    TRL a prompt that carries its own template; a `rollout_func` would replace TRL's generation.
    Anything else the tokenizer adds (an EOS, a BOS the template does not write) cannot be
    removed this way and is refused rather than trained on silently.
    """
    if not prompts:
        return []
    want = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    if tokenizer(list(prompts))["input_ids"] == want:
        return list(prompts)
    bos = tokenizer.bos_token or ""
    spelled = [p[len(bos):] if bos and p.startswith(bos) else p for p in prompts]
    if tokenizer(spelled)["input_ids"] != want:
        raise ActrainError(f"the {stage} stage cannot give TRL its prompts as the model sees them "
                           "elsewhere: the tokenizer adds special tokens the chat template does "
                           "not write")
    return spelled
