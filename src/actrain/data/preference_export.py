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

from actrain.errors import ActrainError
from actrain.prompts import (
    actor_messages,
    critic_messages,
    critic_tag,
    pair_state,
    render_state,
)

ROLES = ("actor", "critic")


def _reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_rows(pairs: Sequence[dict[str, Any]], config: Any, role: str = "actor"
                    ) -> list[dict[str, Any]]:
    """One preference row per pair (`actor`) or per pair and shown order (`critic`)."""
    if role not in ROLES:
        raise ActrainError(f"--as must be one of {', '.join(ROLES)}, got {role!r}")
    rows, seen = [], set()
    for pair in pairs:
        state = pair_state(pair)
        meta = {"task": pair["task"], "step": pair["step"]}
        if role == "actor":
            key = (pair["task"], pair["step"], pair["alternative"])
            if key in seen:  # held-out pairs come in both orders: one actor row
                continue
            seen.add(key)
            messages, _ = actor_messages(render_state(state, config.data.show_admissible),
                                         config.data.actor_reasoning)
            rows.append({"prompt": messages, "chosen": _reply(f"<action>{pair['expert_action']}"
                                                              f"</action>"),
                         "rejected": _reply(f"<action>{pair['alternative']}</action>"), **meta})
            continue
        critic = config.critic
        shown = render_state(state, critic.show_admissible, critic.show_context)
        for actions in (pair["actions"], list(reversed(pair["actions"]))):  # once each order
            key = (pair["task"], pair["step"], tuple(actions))
            if key in seen:
                continue
            seen.add(key)
            messages, _ = critic_messages(shown, actions, critic.reasoning, critic.answer_format)
            expert = actions.index(pair["expert_action"])
            rows.append({"prompt": messages,
                         "chosen": _reply(_answer(expert, actions, critic.answer_format)),
                         "rejected": _reply(_answer(1 - expert, actions, critic.answer_format)),
                         **meta})
    return rows


def _answer(index: int, actions: Sequence[str], answer_format: str) -> str:
    tag = critic_tag(answer_format)
    return f"<{tag}>{index + 1 if answer_format == 'index' else actions[index]}</{tag}>"
