"""What a model is shown and how its answers are read: every prompt and every parser.

- `views`: how a state is shown to the agent (`ActorView`) and to the judge (`CriticView`),
  with the environment's instructions; `State`, `history_window`, `render_state`.
- `actor`, `critic`: the agent's and the judge's prompt text, and IL's target.
- `experience`, `benchmarks`: Early Experience's teacher and world-model prompts; MATH-500 and
  GPQA.
- `chat`: the chat template (the one place a prompt is rendered) and thinking blocks.
- `parsers`: strict parsers that never raise, and where an answer is read.

Every name is importable from `actrain.prompts` itself.
"""

from actrain.prompts.actor import ACTOR_SYSTEM, actor_messages, actor_prompt, actor_target
from actrain.prompts.benchmarks import GPQA_PROMPT, MATH_PROMPT, REASONING_SYSTEM, reasoning_prompt
from actrain.prompts.chat import (
    EMPTY_THINKING,
    THINK_CLOSE,
    THINK_OPEN,
    Messages,
    chat_messages,
    chat_prompt,
    opens_thinking,
    render_chat,
    set_chat_template_kwargs,
    template_empty_thinking,
    template_thinks,
    thinking_prefix,
    trl_prompts,
    with_instructions,
)
from actrain.prompts.critic import CRITIC_SYSTEM, critic_messages, critic_prompt, injected_rationale
from actrain.prompts.experience import (
    RATIONALE_CHARS,
    TEACHER_SYSTEM,
    WORLD_SYSTEM,
    clean_rationale,
    rationale_prompt,
    world_model_prompt,
)
from actrain.prompts.parsers import (
    ANSWER_CLOSES,
    CRITIC_TAGS,
    TRUNCATION_WARNING,
    answer_region,
    critic_stop,
    critic_tag,
    cut_at_stop,
    first_word,
    normalise_action,
    parse_action,
    parse_choice,
    truncated_thinking,
)
from actrain.prompts.views import (
    ActorView,
    CriticView,
    State,
    critic_prompts,
    history_window,
    pair_state,
    render_state,
    view_key,
)

# Bump when any rendered prompt or parse rule changes: it is part of every stage's fingerprint,
# so outputs made with another format are rebuilt, not reused. What a view adds for one
# environment alone (its instructions) is keyed with that view instead (`views.view_key`).
PROMPT_FORMAT = 1

__all__ = [
    "ACTOR_SYSTEM", "ANSWER_CLOSES", "CRITIC_SYSTEM", "CRITIC_TAGS", "EMPTY_THINKING",
    "GPQA_PROMPT", "MATH_PROMPT", "PROMPT_FORMAT", "RATIONALE_CHARS", "REASONING_SYSTEM",
    "TEACHER_SYSTEM", "THINK_CLOSE", "THINK_OPEN", "TRUNCATION_WARNING", "WORLD_SYSTEM",
    "ActorView", "CriticView", "Messages", "State", "actor_messages", "actor_prompt",
    "actor_target", "answer_region", "chat_messages", "chat_prompt", "clean_rationale",
    "critic_messages", "critic_prompt", "critic_prompts", "critic_stop", "critic_tag",
    "cut_at_stop", "first_word", "history_window", "injected_rationale", "normalise_action",
    "opens_thinking", "pair_state", "parse_action", "parse_choice", "rationale_prompt",
    "reasoning_prompt", "render_chat", "render_state", "set_chat_template_kwargs",
    "template_empty_thinking", "template_thinks", "thinking_prefix", "trl_prompts",
    "truncated_thinking",
    "view_key", "with_instructions", "world_model_prompt",
]
