from actrain.prompts import (
    State,
    actor_prompt,
    critic_prompt,
    normalise_action,
    parse_action,
    parse_choice,
    render_state,
)

ACTIONS = ["take apple", "open fridge"]


def test_parse_choice_index_format():
    assert parse_choice("thinking... <answer>1</answer>", ACTIONS) == 0
    assert parse_choice("<answer> 2 </answer>", ACTIONS) == 1
    assert parse_choice("<answer>Action 2</answer>", ACTIONS) == 1


def test_parse_choice_prefilled_continues_the_open_tag():
    assert parse_choice("1</answer>", ACTIONS, prefilled=True) == 0
    assert parse_choice("2</answer> and then more text", ACTIONS, prefilled=True) == 1
    assert parse_choice("1", ACTIONS, prefilled=True) == 0  # closed by the end of the turn
    assert parse_choice("1\nmore", ACTIONS, prefilled=True) is None
    assert parse_choice("1 <answer>2</answer>", ACTIONS, prefilled=True) is None


def test_parse_choice_garbage_is_a_format_failure():
    garbage = [
        "",
        "I pick 1",
        "<answer></answer>",
        "<answer>3</answer>",
        "<answer><answer>1</answer></answer>",  # nested
        "<think><answer>1</answer>",  # cut off while thinking
        "<answer>1 or 2</answer>",  # neither cleanly
        "<answer>1",
        "\x00\xff<answer>\n</answer>",
        None,
        12345,
    ]
    for text in garbage:
        assert parse_choice(text, ACTIONS) is None, text


def test_parse_choice_action_format_reads_the_agents_action_tag():
    assert parse_choice("<action>take apple</action>", ACTIONS, "action") == 0
    assert parse_choice("<action>Open  Fridge.</action>", ACTIONS, "action") == 1  # case, spaces
    assert parse_choice("<action> open fridge </action>", ACTIONS, "action") == 1
    assert parse_choice("open fridge</action>", ACTIONS, "action", prefilled=True) == 1
    assert parse_choice("take apple", ACTIONS, "action", prefilled=True) == 0  # end of the turn
    # run-on text after the closing tag is ignored, as generation stops there
    assert parse_choice("take apple</action> no, open fridge</action>", ACTIONS, "action",
                        prefilled=True) == 0
    assert parse_choice("<action>take apple</action><action>open fridge</action>", ACTIONS,
                        "action") == 0
    # thinking first: only the tag after the block counts
    assert parse_choice("<think>maybe <action>take apple</action></think>"
                        "<action>open fridge</action>", ACTIONS, "action") == 1
    assert parse_choice("so the fridge.</think><action>open fridge</action>", ACTIONS, "action",
                        think_open=True) == 1


def test_parse_choice_action_format_failures_are_malformed():
    malformed = [
        "<action>eat apple</action>",  # names neither
        "<action>take apple or open fridge</action>",  # names the text of both
        "<action>take apple, open fridge</action>",
        "<action>1</action>",  # an index is not an action
        "<answer>take apple</answer>",  # the index format's tag
        "<action><action>take apple</action></action>",  # nested
        "<action></action>",
        "<action>take apple",  # never closed
        "take apple</action>",  # no opening tag (not prefilled)
        "<think><action>take apple</action>",  # cut off while thinking
        "<think>a</think>",
        None,
    ]
    for text in malformed:
        assert parse_choice(text, ACTIONS, "action") is None, text
    assert parse_choice("take apple\nopen fridge", ACTIONS, "action", prefilled=True) is None
    assert parse_choice("<action>take apple</action>", ACTIONS, "action", prefilled=True) is None
    # two shown actions with the same text: naming it names both
    assert parse_choice("<action>take apple</action>", ["take apple", "Take apple."],
                        "action") is None
    # and the index format does not read the action tag
    assert parse_choice("<action>1</action>", ACTIONS) is None


def test_the_critic_answer_tag_and_its_stop_follow_the_format():
    import pytest

    from actrain.prompts import critic_messages, critic_stop, critic_tag

    assert (critic_tag("index"), critic_stop("index")) == ("answer", "</answer>")
    assert (critic_tag("action"), critic_stop("action")) == ("action", "</action>")
    for call in (lambda: critic_stop("text"), lambda: critic_messages("s", ACTIONS, False, "text"),
                 lambda: parse_choice("<answer>1</answer>", ACTIONS, "text")):
        with pytest.raises(ValueError, match="unknown critic answer_format 'text'"):
            call()


def test_the_config_refuses_an_unknown_answer_format_and_too_few_tokens_for_an_action():
    import pytest

    from actrain.config.schema import load_config
    from actrain.errors import ActrainError

    with pytest.raises(ActrainError, match="critic.answer_format must be index or action"):
        load_config(None, ["critic.answer_format=text"])
    with pytest.raises(ActrainError, match="critic.max_new_tokens 3 cannot hold it"):
        load_config(None, ["critic.answer_format=action", "critic.max_new_tokens=3"])
    assert load_config(None, ["critic.answer_format=action"]).critic.max_new_tokens == 8
    load_config(None, ["critic.max_new_tokens=1"])  # a one-token index answer stays fine


def test_action_format_prompts_ask_for_the_agents_tag(tokenizer):
    from actrain.prompts import critic_messages

    direct = critic_prompt(tokenizer, "Task: x", ACTIONS, reasoning=False, answer_format="action")
    assert direct.endswith("<|im_start|>assistant\n<action>")  # prefilled like the actor's
    assert "Action 1: take apple\nAction 2: open fridge" in direct
    assert "Write the better action, copied exactly, inside <action></action>." in direct
    assert "<answer>" not in direct
    thinking = critic_prompt(tokenizer, "Task: x", ACTIONS, reasoning=True, answer_format="action")
    assert thinking.endswith("<|im_start|>assistant\n")
    assert ("Think step by step about what each action does, then write the better action, "
            "copied exactly, inside <action></action>.") in thinking
    # the index format is rendered as before
    messages, prefill = critic_messages("S", ACTIONS, False)
    assert prefill == "<answer>"
    assert messages[1]["content"].endswith("Answer with <answer>1</answer> or <answer>2</answer>.")


def test_parse_action():
    assert parse_action("I should go. <action>open fridge</action>") == "open fridge"
    assert parse_action("open fridge</action>", prefilled=True) == "open fridge"
    assert parse_action(" open fridge ", prefilled=True) == "open fridge"
    assert parse_action("open fridge\nthen eat", prefilled=True) is None
    assert parse_action("open fridge") is None
    assert parse_action("<action>a</action><action>b</action>") == "a"  # the stop rule
    assert parse_action("<action><action>open door</action></action>") is None  # nested
    assert parse_action("<action>  </action>") is None


def test_normalise_action():
    assert normalise_action("  Open   the Fridge. ") == "open the fridge"


def test_render_state_shows_task_history_observation_and_actions():
    state = State("cook", (("kitchen", "look around"),), "you see a fridge", ("open fridge",))
    text = render_state(state)
    assert text.index("Task: cook") < text.index("Action: look around") < text.index(
        "Current observation: you see a fridge"
    )
    assert "Possible actions: open fridge" in text
    assert "Possible actions" not in render_state(state, show_admissible=False)


def test_prompts_use_chat_template_and_prefill(tokenizer):
    prompt = critic_prompt(tokenizer, "Task: x", ACTIONS, reasoning=False)
    assert prompt.startswith("<|im_start|>system")
    assert prompt.endswith("<|im_start|>assistant\n<answer>")
    assert "Action 1: take apple\nAction 2: open fridge" in prompt
    assert critic_prompt(tokenizer, "Task: x", ACTIONS, reasoning=True).endswith("assistant\n")
    assert actor_prompt(tokenizer, "Task: x", reasoning=False).endswith("<action>")


def test_the_critic_can_be_shown_surroundings_and_inventory():
    from actrain.prompts import State, render_state

    state = State("tidy up", (), "You take the shirt.", ("inventory",),
                  context="You are in the bedroom.\nInventory: a shirt")
    assert "Inventory: a shirt" not in render_state(state)
    shown = render_state(state, show_admissible=False, show_context=True)
    assert shown.endswith("Surroundings and inventory: You are in the bedroom.\nInventory: a shirt")
    assert "You take the shirt." in shown


def test_the_answer_is_read_after_thinking_and_up_to_the_first_closing_tag():
    assert parse_choice("<think>1 or 2? <answer>1</answer> or <answer>2</answer></think>"
                        "<answer>2</answer>", ACTIONS) == 1
    assert parse_choice("<think>hmm</think>\n\n<answer>1</answer>", ACTIONS) == 0
    # the closing tag ends the answer, as `generate(stop=["</answer>"])` ends the generation
    assert parse_choice("<answer>1</answer> or <answer>2</answer>", ACTIONS) == 0
    assert parse_choice("<THINK>x</THINK><answer>2</answer>", ACTIONS) == 1
    # a template that opens the block in the prompt: the completion only closes it
    assert parse_choice("so the fridge. </think><answer>2</answer>", ACTIONS) == 1


THINKING_ADVERSARIES = [
    "<think>",  # cut off at once
    "<think>the answer is <answer>1</answer>",  # an answer tag inside a block never closed
    "<think><answer>2</answer></think>",  # answered only while thinking
    "<think>a</think>",  # closed, then nothing
    "<think>a</think><answer></answer>",
    "<think>a</think><answer>3</answer>",
    "<think>a</think><answer><answer>1</answer>",
    "<think>a</think>answer 1",
    "</think>",
    "<think>" * 1000,
]


def test_adversarial_thinking_is_a_format_failure():
    for text in THINKING_ADVERSARIES:
        assert parse_choice(text, ACTIONS) is None, text
        if "3" not in text:  # "3" is a fine action text, just not a choice
            assert parse_action(text.replace("answer", "action")) is None, text


def test_truncated_thinking_is_counted():
    from actrain.prompts import truncated_thinking

    assert truncated_thinking("<think>still going")
    assert not truncated_thinking("<think>done</think><answer>1</answer>")
    assert not truncated_thinking("<answer>1</answer>")
    assert not truncated_thinking(None)


def test_parsing_is_linear_in_the_input_length():
    import time

    for text in ("<answer>" * 40_000, "<action>" * 40_000 + "</action>", "<think>" * 40_000):
        start = time.perf_counter()
        assert parse_choice(text, ACTIONS) is None
        assert parse_action(text) is None
        assert time.perf_counter() - start < 0.5, text[:20]


def test_one_module_renders_every_prompt():
    """Training (ACT, IL, RL) and evaluation render prompts with the very same functions."""
    import inspect
    from pathlib import Path

    import actrain.prompts as prompts
    from actrain.eval import critic as evaluate
    from actrain.stages import act_grpo, act_supervised, il, rl

    assert act_grpo.critic_prompts is act_supervised.critic_prompts is prompts.critic_prompts
    assert evaluate.critic_prompts is prompts.critic_prompts
    from actrain.data import trajectories

    assert il.actor_examples is rl.actor_examples is trajectories.actor_examples
    assert trajectories.ActorView is prompts.ActorView  # one view renders them all
    src = Path(inspect.getfile(prompts)).parents[1]  # the actrain package
    rendering = [p.relative_to(src).as_posix() for p in src.rglob("*.py")
                 if "apply_chat_template(" in p.read_text()]
    assert rendering == ["prompts/chat.py"]


def test_training_and_rollouts_cut_the_same_history_window():
    from actrain.data.trajectories import iter_states
    from actrain.prompts import history_window
    from actrain.records import Trajectory

    past = [(f"room {i}", f"go {i}") for i in range(5)]
    assert history_window(past, 2) == (("room 3", "go 3"), ("room 4", "go 4"))
    assert history_window(past, 0) == () and history_window(past[:1], 3) == (("room 0", "go 0"),)
    trajectory = {"task": "t", "task_description": "d", "steps": [
        {"observation": o, "expert_action": a, "admissible": []} for o, a in past]}
    states = {i: s for i, s, _ in iter_states(Trajectory.from_json(trajectory), 2)}
    assert states[4].history == history_window(past[:4], 2)
    assert states[0].history == ()



SHIRT_TRAJECTORY = {"task": "t:0", "task_description": "put the shirt in the drawer", "steps": [
    {"observation": f"room {i}", "expert_action": f"go {i}", "admissible": [f"go {i}", "look"]}
    for i in range(5)]}


def test_training_data_and_rollouts_show_a_state_in_the_same_prompt(tokenizer):
    """One view, one history window: the IL row of a state and the rollout prompt at that state
    are the very same string (instructions included)."""
    from actrain.eval.agent_settings import AgentSettings
    from actrain.eval.rollouts import Episode, _prompt
    from actrain.prompts import ActorView, trl_prompts
    from actrain.stages.il import il_dataset

    view = ActorView(history_len=2, instructions="Actions are go[n].")
    trained = il_dataset(tokenizer, [SHIRT_TRAJECTORY], view)["prompt"]
    steps, played = SHIRT_TRAJECTORY["steps"], []
    for index, step in enumerate(steps):
        past = [(s["observation"], s["expert_action"]) for s in steps[:index]]
        episode = Episode("t:0", SHIRT_TRAJECTORY["task_description"], step["observation"],
                          step["admissible"], past)
        played.append(_prompt(tokenizer, episode, AgentSettings(view=view)))
    assert trained == trl_prompts(tokenizer, played, "IL") and len(trained) == 5
    assert "Actions are go[n]." in played[4] and "room 2" in played[4]
    assert "room 1" not in played[4]  # cut to the last two steps, in both


def _config(*overrides: str):  # noqa: ANN202 - a RunConfig
    from actrain.config.schema import load_config

    return load_config(None, list(overrides))


def test_webshop_instructions_reach_the_agent_and_the_judge(tokenizer):
    from actrain.eval.agent_settings import agent_settings
    from actrain.prompts import ACTOR_SYSTEM, ActorView
    from actrain.stages.inputs import stage_inputs

    webshop = _config("env.id=webshop/text")
    view = agent_settings(webshop, 0).view
    assert view == stage_inputs(webshop, "il").view  # rollouts and training: one view
    state = State("buy a blue shirt", (), "WebShop [SEP] Search", ())
    prompt = view.prompt(tokenizer, state)
    assert "search[" in prompt and "click[" in prompt
    judged = stage_inputs(webshop, "act").critic_view.prompt(tokenizer, state, ACTIONS)
    assert "search[" in judged and "click[" in judged
    twc = agent_settings(_config(), 0).view  # TextWorld Commonsense: nothing added
    assert twc.instructions == "" and twc.messages(state)[0][0]["content"] == ACTOR_SYSTEM
    assert twc.prompt(tokenizer, state) == ActorView().prompt(tokenizer, state)


def _keys(config) -> list[str]:  # noqa: ANN001 - a RunConfig
    from actrain.run.keys import RunKeys

    keys = RunKeys(config)
    return [keys.data_key("pairs"), keys.checkpoint_key(0, ("il",)),
            keys.checkpoint_key(0, ("act",)), keys.critic_key(0, ()), keys.agent_key(0, ("il",))]


def test_webshop_keys_carry_its_instructions_and_other_environments_keep_theirs(monkeypatch):
    from actrain.envs.webshop import WebShopTextEnv

    # A default (TextWorld Commonsense) run's keys as they were before views carried an
    # environment's instructions: such runs stay valid.
    assert _keys(_config()) == ["8b8e136b51c110d2", "390588a13cab1d29", "140e7072d622bf53",
                                "0dbaeb965f204177", "dbf3824d6cd82289"]
    with_instructions = _keys(_config("env.id=webshop/text"))
    monkeypatch.setattr(WebShopTextEnv, "instructions", classmethod(lambda cls: ""))
    without = _keys(_config("env.id=webshop/text"))
    assert all(a != b for a, b in zip(with_instructions, without, strict=True))
