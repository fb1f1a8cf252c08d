"""How a state is shown: to the agent (`ActorView`) and to the judge (`CriticView`).

A view is made once from the run's config (and its environment's instructions) and renders
every prompt of its role, so that the agent's training data (IL, RL, SR) and its rollouts and
next-action evaluation show a state in the very same text, cut to the very same history window.
A view is also what a run's fingerprints take of how its prompts look (`asdict(view)`, less an
empty `instructions`: `view_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transformers import PreTrainedTokenizerBase

from actrain.prompts.actor import actor_messages
from actrain.prompts.chat import Messages, render_chat
from actrain.prompts.critic import critic_messages
from actrain.records import Pair, PairedState

if TYPE_CHECKING:
    from actrain.config.schema import CriticConfig, DataConfig


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


def pair_state(pair: PairedState | dict[str, Any]) -> State:
    """The state a critic pair (a record of `pairs/*.jsonl`), or an outcome or rationale of
    its state, was taken in."""
    pair = PairedState.coerce(pair)
    return State(
        task=pair.task_description,
        history=tuple(tuple(h) for h in pair.history),
        observation=pair.observation,
        admissible=tuple(pair.admissible),
        context=pair.context or "",
    )


def view_key(settings: dict[str, Any]) -> dict[str, Any]:
    """A view's settings (`asdict(view)`) as fingerprints take them: `instructions` only where
    the environment gives some, so that runs on every other environment keep the keys they had
    before views carried instructions. Changes `settings` in place and returns it."""
    if not settings.get("instructions"):
        settings.pop("instructions", None)
    return settings


@dataclass(frozen=True)
class ActorView:
    """How a state is shown to the actor: the `data` section's view and the environment's
    instructions, the same in its training data (IL, RL, SR) and in its rollouts."""

    history_len: int = 1
    show_admissible: bool = True
    reasoning: bool = False
    il_thinking: str = "empty"  # what an IL target writes before its action (`actor_target`)
    # The environment's own instructions (its action syntax, `TextEnv.instructions`), after
    # the system prompt; "" for most environments, whose admissible actions say enough.
    instructions: str = ""

    @classmethod
    def of(cls, data: DataConfig, instructions: str = "") -> ActorView:
        return cls(data.history_len, data.show_admissible, data.actor_reasoning,
                   data.il_thinking, instructions)

    def state(
        self, task: str, past: Sequence[tuple[str, str]], observation: str,
        admissible: Sequence[str] = (), context: str = "",
    ) -> State:
        """The state at `observation` after the (observation, action) steps `past`, cut to this
        view's `history_window`."""
        return State(task, history_window(past, self.history_len), observation,
                     tuple(admissible), context)

    def text(self, state: State) -> str:
        """The state as the agent reads it (`render_state`)."""
        return render_state(state, self.show_admissible)

    def messages(self, state: State) -> tuple[Messages, str]:
        """The agent prompt at `state` as chat messages, and its prefilled answer start."""
        return actor_messages(self.text(state), self.reasoning, self.instructions)

    def prompt(self, tokenizer: PreTrainedTokenizerBase, state: State) -> str:
        """The agent prompt at `state` through the model's chat template."""
        return render_chat(tokenizer, *self.messages(state))


@dataclass(frozen=True)
class CriticView:
    """How a pair's state and actions are shown to the judge: the `critic` section's view and
    the environment's instructions, the same for training (GRPO, SFT, DPO) and evaluation."""

    show_admissible: bool = False
    show_context: bool = False
    reasoning: bool = False
    answer_format: str = "index"
    instructions: str = ""  # as `ActorView.instructions`

    @classmethod
    def of(cls, critic: CriticConfig | CriticView, instructions: str = "") -> CriticView:
        """The view of a `critic` section (a view is kept as it is)."""
        if isinstance(critic, CriticView):
            return critic
        return cls(critic.show_admissible, critic.show_context, critic.reasoning,
                   critic.answer_format, instructions)

    def text(self, state: State) -> str:
        """The state as the judge reads it (`render_state`)."""
        return render_state(state, self.show_admissible, self.show_context)

    def messages(self, state: State, actions: Sequence[str]) -> tuple[Messages, str]:
        """The judge prompt over `actions` in their shown order, and its prefilled answer."""
        return critic_messages(self.text(state), actions, self.reasoning, self.answer_format,
                               self.instructions)

    def prompt(self, tokenizer: PreTrainedTokenizerBase, state: State,
               actions: Sequence[str]) -> str:
        """The judge prompt through the model's chat template."""
        return render_chat(tokenizer, *self.messages(state, actions))


def critic_prompts(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[Pair | dict[str, Any]],
    critic: CriticConfig | CriticView,
) -> list[str]:
    """Each pair's critic prompt, in its shown order: the same text for training (GRPO, SFT,
    DPO) and for evaluation. `critic` is the run's `critic` section or a view of it (which
    carries the environment's instructions)."""
    view = CriticView.of(critic)
    shown = Pair.coerce_all(pairs)
    return [view.prompt(tokenizer, pair_state(p), p.actions) for p in shown]
