"""Reasoning models: a Qwen3-style template with a thinking switch, answers read after thinking,
truncated thinking counted, and GRPO keeping cut-off completions out of the loss."""

import copy

import pytest

import actrain
from actrain.config.schema import load_config
from actrain.eval.critic import evaluate_critic
from actrain.prompts import critic_prompt, set_chat_template_kwargs
from actrain.records import EpisodeRecord, Turn
from actrain.stages.inputs import stage_inputs

# Qwen3's switch, reduced to its effect: thinking off puts an empty block in the prompt.
QWEN3_STYLE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)
PAIRS = [actrain.pair("t", "o", "take apple", "open fridge", expert_first=first, task="t")
         for first in (True, False)]


@pytest.fixture()
def qwen3_tokenizer(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = QWEN3_STYLE
    return tok


def test_enable_thinking_reaches_every_prompt(qwen3_tokenizer):
    set_chat_template_kwargs(qwen3_tokenizer, {"enable_thinking": False})
    prompt = critic_prompt(qwen3_tokenizer, "Task: t", ["a", "b"], reasoning=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n<answer>")
    set_chat_template_kwargs(qwen3_tokenizer, {"enable_thinking": True})
    prompt = critic_prompt(qwen3_tokenizer, "Task: t", ["a", "b"], reasoning=True)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_chat_template_kwargs_is_a_checked_config_mapping():
    from actrain.errors import ActrainError

    config = load_config(None, ["chat_template_kwargs={enable_thinking: false}"])
    assert config.chat_template_kwargs == {"enable_thinking": False}
    with pytest.raises(ActrainError, match="chat_template_kwargs must be a mapping"):
        load_config(None, ["chat_template_kwargs=5"])


def test_the_model_loader_carries_the_switch(tmp_path):
    from actrain.runtime.models import load_model

    _, tok = load_model("tiny-random", chat_template_kwargs={"enable_thinking": False})
    assert tok.actrain_chat_template_kwargs == {"enable_thinking": False}


def test_critic_evaluation_reads_after_thinking_and_counts_truncation(
    tiny_model, qwen3_tokenizer, monkeypatch
):
    model, _ = tiny_model
    canned = [
        # expert first: tries both answers while thinking, then answers 1 after it (right)
        "<think>1? <answer>1</answer> or <answer>2</answer></think><answer>1</answer>",
        # expert second: cut off while thinking, with a right-looking answer inside (wrong)
        "<think>surely <answer>2</answer> but",
    ]
    monkeypatch.setattr("actrain.eval.critic.generate", lambda *a, **k: [[c] for c in canned])
    config = load_config(None, ["critic.reasoning=true", "critic.max_new_tokens=64"])
    metrics, predictions = evaluate_critic(model, qwen3_tokenizer, PAIRS, config.critic,
                                           config.eval)
    assert [p.picked for p in predictions] == [0, None]
    assert metrics["accuracy_expert_first"] == 1.0
    assert metrics["accuracy_expert_second"] == 0.0
    assert metrics["truncated_rate"] == 0.5 and metrics["format_failure_rate"] == 0.5


def test_grpo_masks_truncated_completions_only_when_the_model_reasons(tmp_path):
    from actrain.stages.act import grpo_config

    thinking = load_config(None, ["critic.reasoning=true", "critic.max_new_tokens=64"])
    direct = load_config(None, ["critic.reasoning=false", "critic.max_new_tokens=1"])
    assert grpo_config(stage_inputs(thinking, "act"), tmp_path).mask_truncated_completions is True
    # a one-token direct answer never ends with EOS: masking it would leave no loss at all
    assert grpo_config(stage_inputs(direct, "act"), tmp_path).mask_truncated_completions is False


def test_rollout_summaries_count_turns_cut_off_while_thinking():
    from actrain.eval.rollouts import summarise

    turns = [Turn(completion=c, action="go north", valid=True, observation="o")
             for c in ("<think>go north? <action>go north</action>",  # cut off
                       "<think>ok</think><action>go north</action>", "<action>look</action>")]
    episode = EpisodeRecord(task="t", won=False, score=0.0, steps=3, invalid_actions=1,
                            malformed=1, hit_max_steps=True, transcript=turns)
    assert summarise([episode])["truncated_rate"] == pytest.approx(1 / 3)


# DeepSeek-R1-Distill / Qwen3-*-Thinking-2507, reduced to their effect: the generation prompt
# opens the thinking block, so the completion starts inside it and only closes it.
R1_STYLE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}"
)


def test_a_template_that_opens_thinking_makes_an_unclosed_completion_truncated(tokenizer):
    from actrain.prompts import opens_thinking, parse_choice, truncated_thinking
    from actrain.rewards import make_choice_reward

    r1, qwen3 = copy.deepcopy(tokenizer), copy.deepcopy(tokenizer)
    r1.chat_template, qwen3.chat_template = R1_STYLE, QWEN3_STYLE
    actions = ["take apple", "open fridge"]
    prompt = critic_prompt(r1, "Task: t", actions, reasoning=True)
    assert opens_thinking(prompt) and not opens_thinking(critic_prompt(qwen3, "Task: t", actions,
                                                                       reasoning=True))
    cut = "Action 1 takes the apple, so <answer>1</answer> unless"  # cut off mid-thought
    done = "Action 1 takes the apple.\n</think>\n\n<answer>1</answer>"
    assert parse_choice(cut, actions, think_open=True) is None
    assert truncated_thinking(cut, think_open=True)
    assert parse_choice(done, actions, think_open=True) == 0
    assert not truncated_thinking(done, think_open=True)
    # the GRPO reward reads the prompt: the cut-off sample is unscored, not a right answer
    reward = make_choice_reward("index", prefilled=False)
    assert reward(prompts=[prompt] * 2, completions=[cut, done], actions=[actions] * 2,
                  label=[0, 0]) == [None, 1.0]


EXPERT_PATH = [{
    "task": "train:0", "task_description": "Put the shirt away.", "won": True, "score": 1.0,
    "steps": [{"observation": "You see a shirt.", "admissible": ["inventory", "take shirt"],
               "expert_action": "take shirt"},
              {"observation": "You take the shirt.", "admissible": ["open wardrobe"],
               "expert_action": "open wardrobe"}],
}]


def _il_rows(tokenizer, *overrides):
    from actrain.stages.il import il_dataset

    config = load_config(None, ["model=tiny-random", *overrides])
    return il_dataset(tokenizer, EXPERT_PATH, stage_inputs(config, "il").view)


def test_il_targets_of_a_thinking_model_open_with_an_empty_thinking_block(qwen3_tokenizer):
    """With thinking on, a bare action right after the generation prompt taught Qwen3 to drop
    its thinking block: the target writes the block Qwen3's template writes with thinking off."""
    from actrain.prompts import parse_action

    rows = _il_rows(qwen3_tokenizer, "data.actor_reasoning=true")
    assert rows[0]["prompt"].endswith("<|im_start|>assistant\n")
    assert rows[0]["completion"] == "<think>\n\n</think>\n\n<action>take shirt</action>"
    assert [parse_action(c) for c in rows["completion"]] == ["take shirt", "open wardrobe"]
    # as a choice, the action alone
    none = _il_rows(qwen3_tokenizer, "data.actor_reasoning=true", "data.il_thinking=none")
    assert none[0]["completion"] == "<action>take shirt</action>"
    # the prompt already holds the block (thinking off), or prefills the tag: nothing to add
    off = copy.deepcopy(qwen3_tokenizer)
    set_chat_template_kwargs(off, {"enable_thinking": False})
    rows = _il_rows(off, "data.actor_reasoning=true")
    assert rows[0]["prompt"].endswith("<think>\n\n</think>\n\n")
    assert rows[0]["completion"] == "<action>take shirt</action>"
    assert _il_rows(qwen3_tokenizer)[0]["completion"] == "take shirt</action>"


def test_il_targets_of_a_template_without_thinking_are_unchanged(tokenizer):
    for thinking in ("empty", "none"):
        rows = _il_rows(tokenizer, "data.actor_reasoning=true", f"data.il_thinking={thinking}")
        assert rows[0]["completion"] == "<action>take shirt</action>"


# Qwen3-Instruct-2507, reduced: the template strips thinking from past turns but never thinks.
NEVER_THINKS = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if '<think>' in m.content %}"
    "{{ m.content.split('</think>')[-1] }}{% else %}{{ m.content }}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_il_targets_write_the_block_of_the_model_s_own_template(tokenizer):
    never, smollm3 = copy.deepcopy(tokenizer), copy.deepcopy(tokenizer)
    never.chat_template = NEVER_THINKS
    smollm3.chat_template = QWEN3_STYLE.replace("</think>\n\n", "</think>\n")
    assert _il_rows(never, "data.actor_reasoning=true")[0]["completion"] == (
        "<action>take shirt</action>")
    assert _il_rows(smollm3, "data.actor_reasoning=true")[0]["completion"] == (
        "<think>\n\n</think>\n<action>take shirt</action>")


def test_il_targets_close_a_block_the_prompt_opened(tokenizer):
    from actrain.prompts import parse_action

    r1 = copy.deepcopy(tokenizer)
    r1.chat_template = R1_STYLE
    rows = _il_rows(r1, "data.actor_reasoning=true")
    assert rows[0]["prompt"].endswith("<think>\n")
    assert rows[0]["completion"] == "\n</think>\n\n<action>take shirt</action>"
    assert parse_action(rows[0]["completion"], think_open=True) == "take shirt"


def test_il_thinking_is_a_checked_setting():
    from actrain.errors import ActrainError

    with pytest.raises(ActrainError, match="data.il_thinking must be one of empty, none"):
        load_config(None, ["data.il_thinking=full"])
