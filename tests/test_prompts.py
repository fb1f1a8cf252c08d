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


def test_parse_choice_action_format_names_the_action():
    assert parse_choice("<answer>Open  Fridge.</answer>", ACTIONS, "action") == 1
    assert parse_choice("<answer>take apple</answer>", ACTIONS, "action") == 0
    assert parse_choice("<answer>eat apple</answer>", ACTIONS, "action") is None
    assert parse_choice("<answer>1</answer>", ACTIONS, "action") is None


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
    from actrain import evaluate
    from actrain.stages import act, act_supervised, il, rl

    assert act.critic_prompts is act_supervised.critic_prompts is prompts.critic_prompts
    assert evaluate.critic_prompts is prompts.critic_prompts
    from actrain.data import trajectories

    assert il.actor_examples is rl.actor_examples is trajectories.actor_examples
    assert trajectories.actor_prompt is prompts.actor_prompt
    src = Path(inspect.getfile(prompts)).parent
    rendering = [p.relative_to(src).as_posix() for p in src.rglob("*.py")
                 if "apply_chat_template(" in p.read_text()]
    assert rendering == ["prompts.py"]
