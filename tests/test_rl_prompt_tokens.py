"""RL prompts reach the model as the same tokens as the agent's rollouts, also for a tokenizer
that adds a BOS of its own (Llama 3): TRL tokenizes string prompts with special tokens."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from tokenizers.processors import TemplateProcessing
from trl import GRPOTrainer

from actrain.data.trajectories import iter_states
from actrain.errors import ActrainError
from actrain.prompts import ActorView, actor_prompt, render_state, trl_prompts
from actrain.stages.rl import rl_dataset

TRAJECTORIES = [{"task": "train:0", "task_description": "Put the shirt away.",
                 "steps": [{"observation": "You see a shirt.",
                            "admissible": ["inventory", "take shirt"],
                            "expert_action": "take shirt"},
                           {"observation": "You take the shirt.",
                            "admissible": ["inventory", "open wardrobe"],
                            "expert_action": "open wardrobe"}]}]


def adding(tokenizer, single: str):  # noqa: ANN001, ANN201 - a tokenizer, changed copy
    """A copy of `tokenizer` whose plain-text tokenization adds special tokens (`single`)."""
    tok = copy.deepcopy(tokenizer)
    specials = [(t, tok.convert_tokens_to_ids(t)) for t in (tok.bos_token, tok.eos_token)]
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single=single, pair=f"{single} $B", special_tokens=specials)
    return tok


def trl_ids(tokenizer, prompts: list[str]) -> list[list[int]]:  # noqa: ANN001
    """What TRL's GRPO trainer feeds the model for string prompts."""
    return GRPOTrainer._tokenize_prompts(SimpleNamespace(processing_class=tokenizer), prompts)[0]


def rollout_ids(tokenizer, view: ActorView) -> list[list[int]]:  # noqa: ANN001
    """The agent's prompt at every state, tokenized as rollouts generate from it."""
    prompts = [actor_prompt(tokenizer, render_state(state, view.show_admissible), view.reasoning)
               for traj in TRAJECTORIES for _, state, _ in iter_states(traj, view.history_len)]
    return tokenizer(prompts, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("adds_bos", [False, True])
def test_rl_prompt_ids_equal_the_rollout_prompt_ids(tokenizer, adds_bos: bool) -> None:
    if adds_bos:
        tokenizer = adding(tokenizer, f"{tokenizer.bos_token} $A")
        assert tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id  # it adds one
    view = ActorView(history_len=1, show_admissible=True, reasoning=False)
    expected = rollout_ids(tokenizer, view)
    assert expected[0][0] == tokenizer.bos_token_id  # the template writes its own BOS
    assert trl_ids(tokenizer, list(rl_dataset(tokenizer, TRAJECTORIES, view)["prompt"])) == expected


def test_special_tokens_the_template_does_not_write_are_refused(tokenizer) -> None:
    tok = adding(tokenizer, f"$A {tokenizer.eos_token}")
    prompt = actor_prompt(tok, "state", False)
    with pytest.raises(ActrainError, match="special tokens the chat template does not write"):
        trl_prompts(tok, [prompt])


def test_il_and_prompt_group_act_prompts_tokenize_as_the_agent_and_critic_see_them(tokenizer):
    """TRL's SFT and GRPO trainers tokenize string prompts with the tokenizer's special tokens:
    IL and prompt-group ACT give them prompts whose ids are those the model is shown elsewhere."""
    from helpers.pairs import make_pair

    from actrain.config.schema import load_config
    from actrain.data.kway import training_rows
    from actrain.prompts import critic_prompts
    from actrain.stages.act import act_dataset
    from actrain.stages.il import il_dataset
    from actrain.stages.inputs import stage_inputs

    tok = adding(tokenizer, f"{tokenizer.bos_token} $A")
    view = ActorView(history_len=1, show_admissible=True, reasoning=False)
    assert tok(list(il_dataset(tok, TRAJECTORIES, view)["prompt"]))["input_ids"] == rollout_ids(
        tok, view)
    pairs = [make_pair(0, True), make_pair(1, False)]
    inputs = stage_inputs(load_config(None, ["act.advantage_group=prompt"]), "act")
    act = inputs.act
    rows = training_rows(pairs, act.both_orders,
                         seed=inputs.trainer.seed if act.order_paired else None)
    shown = tok(critic_prompts(tok, rows, inputs.critic), add_special_tokens=False)["input_ids"]
    assert shown[0][0] == tok.bos_token_id  # the template writes its own BOS
    assert trl_ids(tok, list(act_dataset(tok, pairs, inputs)["prompt"])) == shown
