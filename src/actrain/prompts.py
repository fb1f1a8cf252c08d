"""What a model is shown and how its answers are read: every prompt and every parser.

Prompts are rendered to plain strings with the model's chat template here, once, so that the very
same text is used for sampling alternatives, GRPO training and evaluation. When reasoning is off,
the assistant turn is prefilled with the opening tag, so the model only has to write the answer
(the paper's "direct choice" ablation; it also sidesteps the format wall of very small models).

Parsers are strict and never raise: the answer is read after the thinking block (if any), up to the
first closing tag (the same stop rule generation uses); anything that is not a well-formed tag with
a usable content there is a format failure (`None`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transformers import PreTrainedTokenizerBase

from actrain.config.schema import IL_THINKING
from actrain.errors import ActrainError

if TYPE_CHECKING:
    from actrain.config.schema import CriticConfig, DataConfig

# Bump when any rendered prompt or parse rule changes: it is part of every stage's fingerprint,
# so outputs made with another format are rebuilt, not reused.
PROMPT_FORMAT = 1

# Kept short on purpose: on a CPU, prompt length dominates generation and training time.
ACTOR_SYSTEM = "You play a text game. Choose the next action that makes progress on the task."
CRITIC_SYSTEM = "You judge actions in a text game: which of two actions is better for the task?"
TEACHER_SYSTEM = "You explain decisions in a text game."
WORLD_SYSTEM = "You play a text game. Predict what the game will say after an action."
RATIONALE_CHARS = 600  # a rationale longer than this is cut at a sentence end
# General reasoning benchmarks (`actrain eval-reasoning`, eval/reasoning.py).
REASONING_SYSTEM = "You are a helpful assistant. Reason carefully before giving a final answer."
MATH_PROMPT = ("Solve the following math problem step by step. Put your final answer within "
               "\\boxed{{}}.\n\n{problem}")
GPQA_PROMPT = ("Answer the following multiple choice question. Think step by step, then end your "
               "response with a line of the form 'Answer: X', where X is one of A, B, C, D.\n\n"
               "{question}\n\n{options}")


@dataclass(frozen=True)
class ActorView:
    """How a state is shown to the actor: the `data` section's view, the same in its training
    data (IL, RL) and in its rollouts."""

    history_len: int = 1
    show_admissible: bool = True
    reasoning: bool = False
    il_thinking: str = "empty"  # what an IL target writes before its action (`actor_target`)

    @classmethod
    def of(cls, data: DataConfig) -> ActorView:
        return cls(data.history_len, data.show_admissible, data.actor_reasoning,
                   data.il_thinking)


@dataclass(frozen=True)
class State:
    """What the agent knows at one step: the task, recent history and the current observation."""

    task: str
    history: tuple[tuple[str, str], ...]  # (observation, action) pairs, oldest first
    observation: str
    admissible: tuple[str, ...] = ()
    context: str = ""  # surroundings and inventory (`TextEnv.context()`), shown to the critic


def history_window(past: Sequence[tuple[str, str]], history_len: int
                   ) -> tuple[tuple[str, str], ...]:
    """The (observation, action) steps a state shows: the last `history_len` of `past`, oldest
    first (none at 0). Training data and rollouts both cut the history here, so an agent is
    shown in play exactly the window it was trained on."""
    return tuple(past[-history_len:]) if history_len > 0 else ()


def normalise_action(text: str) -> str:
    """Case- and whitespace-insensitive form used to compare actions."""
    return " ".join(text.strip().lower().split()).rstrip(".")


def first_word(action: str) -> str:
    """An action's kind: its first word, lower-cased (`put`, `take`, `inventory`)."""
    return (action.split() or ["(empty)"])[0].lower()


def render_state(
    state: State, show_admissible: bool = True, show_context: bool = False
) -> str:
    """The state as text: task, the last few steps, the current observation (and, with
    `show_context`, the surroundings and inventory the environment reports)."""
    parts = [f"Task: {state.task.strip()}"]
    if state.history:
        parts.append("Recent steps:")
        for observation, action in state.history:
            parts.append(f"Observation: {observation.strip()}\nAction: {action}")
    parts.append(f"Current observation: {state.observation.strip()}")
    if show_context and state.context.strip():
        parts.append(f"Surroundings and inventory: {state.context.strip()}")
    if show_admissible and state.admissible:
        parts.append("Possible actions: " + ", ".join(state.admissible))
    return "\n".join(parts)


def set_chat_template_kwargs(tokenizer: PreTrainedTokenizerBase, kwargs: dict) -> None:
    """Template switches (e.g. Qwen3's `enable_thinking`) for every prompt rendered with it.

    They ride on the run's tokenizer because every prompt of a run, for any stage, is rendered
    from that tokenizer; `models.load_model` sets them from the config's `chat_template_kwargs`.
    """
    tokenizer.actrain_chat_template_kwargs = dict(kwargs)


Messages = list[dict[str, str]]


def _chat(
    tokenizer: PreTrainedTokenizerBase, system: str, user: str, prefill: str
) -> str:
    return render_chat(tokenizer, _messages(system, user), prefill)


def _messages(system: str, user: str) -> Messages:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_chat(tokenizer: PreTrainedTokenizerBase, messages: Messages, prefill: str) -> str:
    """Messages through the model's chat template, then the answer's prefilled opening."""
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True,
        **getattr(tokenizer, "actrain_chat_template_kwargs", {}),
    )
    return text + prefill


def actor_prompt(
    tokenizer: PreTrainedTokenizerBase,
    state_text: str,
    reasoning: bool,
) -> str:
    """Prompt the model as the agent: it answers with its next action in an <action> tag."""
    return render_chat(tokenizer, *actor_messages(state_text, reasoning))


def actor_messages(state_text: str, reasoning: bool) -> tuple[Messages, str]:
    """The agent prompt as chat messages, and the text its answer starts with (prefilled)."""
    if reasoning:
        instruction = (
            "Think briefly about what to do next, then write your next action inside "
            "<action></action>, for example <action>open door</action>."
        )
        prefill = ""
    else:
        instruction = "Write your next action inside <action></action>."
        prefill = "<action>"
    return _messages(ACTOR_SYSTEM, f"{state_text}\n\n{instruction}"), prefill


# What IL writes before the expert action where the prompt leaves the agent free to think
# (`data.il_thinking`): "empty", a rationale-free thinking block; "none", the action alone.
# Qwen3's own rationale-free block: what its template writes for `enable_thinking: false`.
EMPTY_THINKING = "<think>\n\n</think>\n\n"


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
    messages = _messages("s", "u")
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


def critic_prompt(
    tokenizer: PreTrainedTokenizerBase,
    state_text: str,
    actions: Sequence[str],
    reasoning: bool,
    answer_format: str = "index",
) -> str:
    """Prompt the model as a judge of two (or, K-way, more) actions shown in a given order."""
    return render_chat(tokenizer, *critic_messages(state_text, actions, reasoning, answer_format))


def critic_messages(
    state_text: str, actions: Sequence[str], reasoning: bool, answer_format: str = "index"
) -> tuple[Messages, str]:
    """The judge prompt as chat messages, and the text its answer starts with (prefilled).

    `answer_format` "index" answers with the better action's number in an <answer> tag;
    "action" writes the better action itself, copied, in the agent's own <action> tag (as
    `actor_messages` asks for it), so judging and acting share their output tokens.
    """
    if not 2 <= len(actions) <= 9:
        raise ValueError("a critic prompt compares two to nine actions")
    tag = critic_tag(answer_format)
    shown = "\n".join(f"Action {i}: {a}" for i, a in enumerate(actions, start=1))
    question = f"Which action is better for the task?\n{shown}\n\n"
    if answer_format == "index":
        indices = [f"<answer>{i}</answer>" for i in range(1, len(actions) + 1)]
        answer_hint = ", ".join(indices[:-1]) + f" or {indices[-1]}"
        if reasoning:
            instruction = (f"{question}Think step by step about what each action does, then "
                           f"answer with {answer_hint}.")
        else:
            instruction = f"{question}Answer with {answer_hint}."
    else:
        copy = "the better action, copied exactly, inside <action></action>"
        if reasoning:
            instruction = (f"{question}Think step by step about what each action does, then "
                           f"write {copy}.")
        else:
            instruction = f"{question}Write {copy}."
    prefill = "" if reasoning else f"<{tag}>"
    return _messages(CRITIC_SYSTEM, f"{state_text}\n\n{instruction}"), prefill


def injected_rationale(actions: Sequence[str], argued: int) -> str:
    """A rationale arguing for `actions[argued]`: the rationale intervention study injects one
    for the non-expert action, then forces the answer, to see whether the judge follows it."""
    other = ", ".join(f"Action {i + 1}" for i in range(len(actions)) if i != argued)
    return (f"Action {argued + 1} ({actions[argued]}) is the better choice: it makes progress on "
            f"the task, while {other} does not help here.\n")


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
    return _chat(tokenizer, TEACHER_SYSTEM, user, "")


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
    return _chat(tokenizer, WORLD_SYSTEM, user, "")


def reasoning_prompt(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    """A benchmark question (MATH-500, GPQA) as a chat prompt; one clear error for a tokenizer
    without a chat template (a base model)."""
    try:
        return _chat(tokenizer, REASONING_SYSTEM, question, "")
    except ValueError as exc:
        raise ActrainError(f"the model's tokenizer cannot render a chat prompt: {exc}") from None


def pair_state(pair: dict[str, Any]) -> State:
    """The state a critic pair (a record of `pairs/*.jsonl`) was taken in."""
    return State(
        task=pair["task_description"],
        history=tuple(tuple(h) for h in pair["history"]),
        observation=pair["observation"],
        admissible=tuple(pair["admissible"]),
        context=pair.get("context", ""),
    )


def critic_prompts(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict[str, Any]], critic: CriticConfig
) -> list[str]:
    """Each pair's critic prompt, in its shown order: the same text for training (GRPO, SFT,
    DPO) and for evaluation."""
    return [
        critic_prompt(
            tokenizer,
            render_state(pair_state(p), critic.show_admissible, critic.show_context),
            p["actions"], critic.reasoning, critic.answer_format,
        )
        for p in pairs
    ]


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# The tags that close an answer: generation stops at them, and parsing reads up to them.
ANSWER_CLOSES = ("</answer>", "</action>")
# The tag a critic answers in, by `critic.answer_format`: "index" names the better action's
# number in <answer>; "action" writes the action itself in the agent's <action> tag.
CRITIC_TAGS = {"index": "answer", "action": "action"}


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


def opens_thinking(prompt: object) -> bool:
    """Whether a rendered prompt leaves its completion inside a thinking block.

    Templates such as DeepSeek-R1-Distill and Qwen3-*-Thinking-2507 end the generation prompt
    with "<think>\n", so the completion starts mid-thought and only closes the block. The same
    rule as the HF generation path's stop criteria (`generation.generate`), so that a completion
    is parsed as it was generated.
    """
    return isinstance(prompt, str) and prompt.rstrip().lower().endswith(THINK_OPEN)


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


# Above this share of answers cut off while thinking, a score measures the token budget more than
# the model (and a model that thinks shorter gains by it): every report and evaluation warns.
TRUNCATION_WARNING = 0.05


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
