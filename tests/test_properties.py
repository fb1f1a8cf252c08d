"""Property-based tests (hypothesis) for every parser and reward: they never raise, return only
documented values, and an index answer follows the shown order."""

from hypothesis import given, settings
from hypothesis import strategies as st

from actrain.prompts import (
    cut_at_stop,
    opens_thinking,
    parse_action,
    parse_choice,
    truncated_thinking,
)
from actrain.rewards import (
    cut_off,
    make_accuracy_metrics,
    make_action_metrics,
    make_action_reward,
    make_choice_reward,
    make_consistency_reward,
)

TAGS = ["<answer>", "</answer>", "<action>", "</action>", "<think>", "</think>", "1", "2",
        "Action 1", " ", "\n", "take apple", "open fridge"]
# Text made of tag fragments and arbitrary characters, so the interesting cases come up often.
texts = st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=8)), max_size=12).map("".join)
anything = st.one_of(texts, st.none(), st.integers(), st.binary(max_size=8))
actions = st.lists(st.text(min_size=1, max_size=10), min_size=2, max_size=2)
SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(anything, actions, st.sampled_from(["index", "action"]), st.booleans())
def test_parse_choice_never_raises_and_names_a_position_or_nothing(text, shown, fmt, prefilled):
    assert parse_choice(text, shown, fmt, prefilled) in (0, 1, None)


@SETTINGS
@given(anything, st.booleans())
def test_parse_action_never_raises_and_returns_a_clean_action_or_nothing(text, prefilled):
    action = parse_action(text, prefilled)
    assert action is None or (isinstance(action, str) and action == action.strip() and action)
    assert action is None or "<action>" not in action.lower()


@SETTINGS
@given(texts, st.booleans())
def test_an_index_answer_follows_the_shown_order(text, prefilled):
    shown, swapped = ["take apple", "open fridge"], ["open fridge", "take apple"]
    picked = parse_choice(text, shown, "index", prefilled)
    again = parse_choice(text, swapped, "index", prefilled)
    assert picked == again  # an index names a position, whatever is shown there
    if picked is not None:  # so swapping the order flips the action it picks
        assert shown[picked] != swapped[again]
    named = parse_choice(text, shown, "action", prefilled)
    if named is not None:  # a named action moves with the order
        assert parse_choice(text, swapped, "action", prefilled) == 1 - named


@SETTINGS
@given(texts)
def test_the_stop_rule_only_ever_shortens(text):
    cut = cut_at_stop(text, ["</answer>"])
    assert text.startswith(cut)
    assert truncated_thinking(text) in (True, False)


@SETTINGS
@given(st.lists(st.tuples(anything, st.sampled_from([0, 1]), st.booleans()), min_size=1,
                max_size=6), st.booleans())
def test_choice_rewards_and_metrics_take_only_their_values(rows, prefilled):
    completions = [r[0] for r in rows]
    shown = [["take apple", "open fridge"]] * len(rows)
    labels = [r[1] for r in rows]
    first = [r[2] for r in rows]
    reward = make_choice_reward("index", prefilled)(
        prompts=[""] * len(rows), completions=completions, actions=shown, label=labels)
    assert set(reward) <= {1.0, 0.0, -0.5, None}
    cut = cut_off(completions, prefilled, [""] * len(rows))
    assert [r is None for r in reward] == cut  # None only for a completion cut off thinking
    for metric in make_accuracy_metrics("index", prefilled):
        values = metric(prompts=[""] * len(rows), completions=completions, actions=shown,
                        label=labels, expert_first=first)
        assert set(values) <= {0.0, 1.0, None}
        # every function leaves a cut-off row unscored, so TRL keeps it out of the baseline
        assert all(v is None for v, c in zip(values, cut, strict=True) if c)
    mirror = list(range(len(rows)))[::-1]
    consistency = make_consistency_reward("index", prefilled)(
        prompts=[""] * len(rows), completions=completions, actions=shown, label=labels,
        mirror=mirror)
    assert set(consistency) <= {0.0, 1.0, None}
    assert [v is None for v in consistency] == cut


@SETTINGS
@given(st.lists(anything, min_size=1, max_size=6), st.booleans())
def test_action_rewards_and_metrics_take_only_their_values(completions, prefilled):
    n = len(completions)
    kwargs = {"prompts": [""] * n, "completions": completions,
              "expert_action": ["take apple"] * n,
              "admissible_actions": [["take apple", "open fridge"]] * n}
    reward = make_action_reward(prefilled)(**kwargs)
    assert set(reward) <= {1.0, 0.1, 0.0, -0.5, None}
    cut = cut_off(completions, prefilled, [""] * n, tag="action")
    assert [r is None for r in reward] == cut  # None only for a completion cut off thinking
    for metric in make_action_metrics(prefilled):
        values = metric(**kwargs)
        assert set(values) <= {0.0, 1.0, None}
        assert [v is None for v in values] == cut


# A finished answer: optional thinking, then the answer tag, closed; generation stops there.
_plain = st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=12)
_thinking = st.one_of(st.just(""), st.builds("<think>{}</think>".format, texts))
_answer = st.sampled_from(["1", "2", "Action 2", " take apple ", "open fridge", "3", ""])


@SETTINGS
@given(_thinking, _plain, _answer, texts, st.sampled_from(["index", "action"]))
def test_text_after_the_closing_answer_tag_never_changes_the_choice(think, lead, answer, tail,
                                                                     fmt):
    """A completion reads the same whether generation stopped at its closing tag or ran on."""
    shown = ["take apple", "open fridge"]
    stopped = f"{think}{lead}<answer>{answer}</answer>"
    assert parse_choice(stopped + tail, shown, fmt) == parse_choice(stopped, shown, fmt)
    assert not truncated_thinking(stopped + tail)
    # a prompt that opened the block: the completion only closes it
    opened = f"{lead.replace('/', '')}</think>{lead}<answer>{answer}</answer>"
    assert (parse_choice(opened + tail, shown, fmt, think_open=True)
            == parse_choice(opened, shown, fmt, think_open=True))
    # prefilled (direct choice): the completion starts inside the tag
    prefilled = f"{answer}</answer>"
    assert (parse_choice(prefilled + tail, shown, fmt, prefilled=True)
            == parse_choice(prefilled, shown, fmt, prefilled=True))


@SETTINGS
@given(_thinking, _plain, _answer, texts, st.booleans())
def test_text_after_the_closing_action_tag_never_changes_the_action(think, lead, answer, tail,
                                                                    think_open):
    stopped = (f"{lead}</think>" if think_open else think) + f"{lead}<action>{answer}</action>"
    assert (parse_action(stopped + tail, think_open=think_open)
            == parse_action(stopped, think_open=think_open))
    assert (parse_action(f"{answer}</action>{tail}", prefilled=True)
            == parse_action(f"{answer}</action>", prefilled=True))


@SETTINGS
@given(texts, st.booleans())
def test_a_completion_reads_the_same_stopped_or_run_on(text, think_open):
    """The stop rule applied after the fact (vLLM) never changes what is parsed."""
    shown = ["take apple", "open fridge"]
    stopped = cut_at_stop(text, ["</answer>"], think_open)
    assert text.startswith(stopped)
    assert (parse_choice(stopped, shown, think_open=think_open)
            == parse_choice(text, shown, think_open=think_open))


@SETTINGS
@given(texts)
def test_inside_an_opened_block_nothing_is_an_answer_before_it_closes(text):
    """A prompt ending in "<think>": a completion without "</think>" is cut off, not an answer."""
    if "</think>" not in text.lower():
        assert parse_choice(text, ["a", "b"], think_open=True) is None
        assert truncated_thinking(text, think_open=True)
    assert opens_thinking("<|im_start|>assistant\n<think>\n")
    assert not opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n<answer>")
