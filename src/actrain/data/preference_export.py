"""A run's pairs in TRL's conversational preference format (`prompt` / `chosen` / `rejected`
message lists), for DPO or reward modelling with any trainer and chat template.

- `actor`: the agent prompt at the pair's state; chosen is the expert's action, rejected the
  alternative, each as the `<action>` reply actrain's agents write.
- `critic`: the judgment prompt, the pair in both shown orders; chosen is the answer naming the
  expert's action, rejected the other (what `act.objective: dpo` trains on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actrain.envs import instructions_of
from actrain.errors import ActrainError
from actrain.prompts import ActorView, CriticView, critic_tag, pair_state
from actrain.records import Pair

ROLES = ("actor", "critic")


def _reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_rows(pairs: Sequence[Pair], config: Any, role: str = "actor"
                    ) -> list[dict[str, Any]]:
    """One preference row per pair (`actor`) or per pair and shown order (`critic`)."""
    if role not in ROLES:
        raise ActrainError(f"--as must be one of {', '.join(ROLES)}, got {role!r}")
    instructions = instructions_of(config.env)
    actor = ActorView.of(config.data, instructions)
    critic = CriticView.of(config.critic, instructions)
    rows, seen = [], set()
    for pair in pairs:
        state = pair_state(pair)
        meta = {"task": pair.task, "step": pair.step}
        if role == "actor":
            if pair.key in seen:  # held-out pairs come in both orders: one actor row
                continue
            seen.add(pair.key)
            messages, _ = actor.messages(state)
            rows.append({"prompt": messages,
                         "chosen": _reply(f"<action>{pair.expert_action}</action>"),
                         "rejected": _reply(f"<action>{pair.alternative}</action>"), **meta})
            continue
        for actions in (pair.actions, list(reversed(pair.actions))):  # once each order
            key = (pair.task, pair.step, tuple(actions))
            if key in seen:
                continue
            seen.add(key)
            messages, _ = critic.messages(state, actions)
            expert = actions.index(pair.expert_action)
            rows.append({"prompt": messages,
                         "chosen": _reply(_answer(expert, actions, critic.answer_format)),
                         "rejected": _reply(_answer(1 - expert, actions, critic.answer_format)),
                         **meta})
    return rows


def _answer(index: int, actions: Sequence[str], answer_format: str) -> str:
    tag = critic_tag(answer_format)
    return f"<{tag}>{index + 1 if answer_format == 'index' else actions[index]}</{tag}>"
