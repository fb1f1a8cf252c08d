"""The hard critic set: same-kind alternatives verified worse, where surface rules are at
chance, and the no-model rules every critic figure stands beside."""

import pytest
from helpers.trajectories import expert_path

import actrain
from actrain.data.hard_pairs import hard_pairs, same_kind
from actrain.data.verify import keep_verified_worse, worse_by_outcome
from actrain.envs.base import StepResult, TextEnv
from actrain.eval.rule_critics import action_prior_accuracy, rule_accuracies, verb_prior_accuracy

PLACES = {"apple": "basket", "cup": "shelf"}
EXPERT = ["take apple", "put apple in basket", "take cup", "put cup in shelf"]


class Tidy(TextEnv):
    """Put each item in its place: a wrong place scores nothing, and the expert's plan cannot
    undo it (it never takes an item twice). No oracle, as TextWorldExpress."""

    def tasks(self, split):
        return ["t"]

    def reset(self, task):
        self.held, self.placed = set(), {}
        return self._result("a room")

    def _result(self, text):
        right = sum(self.placed.get(i) == p for i, p in PLACES.items())
        won = right == len(PLACES)
        return StepResult(text, done=won, info={"won": won, "score": right / len(PLACES)})

    def step(self, action):
        words = action.split()
        if words[0] == "take" and words[1] not in self.held:
            self.held.add(words[1])
            self.placed.pop(words[1], None)
        elif words[0] == "put" and words[1] in self.held:
            self.held.discard(words[1])
            self.placed[words[1]] = words[-1]
        return self._result(f"you {action}")

    def admissible_actions(self):
        takes = [f"take {i}" for i in PLACES if i not in self.held]
        puts = [f"put {i} in {p}" for i in sorted(self.held) for p in ("basket", "shelf",
                                                                          "floor")]
        return [*takes, *puts, "look"]

    def expert_actions(self, task):
        return list(EXPERT)


def test_a_wrong_place_is_worse_and_a_swapped_order_is_not():
    env = Tidy()
    assert worse_by_outcome(env, "t", EXPERT[:1], EXPERT[1], "put apple in floor", EXPERT[2:])
    assert not worse_by_outcome(env, "t", [], EXPERT[0], "take cup", EXPERT[1:])
    assert not worse_by_outcome(env, "t", EXPERT[:1], EXPERT[1], "look", EXPERT[2:])  # absorbed


def test_verify_without_an_oracle_uses_the_outcome_check():
    trajectories = [expert_path("t", EXPERT)]
    pairs = [actrain.pair("", "o", EXPERT[1], alt, task="t", step=1, expert_first=True)
             for alt in ("put apple in floor", "look")]
    kept, counts = keep_verified_worse(Tidy(), pairs, trajectories)
    assert [p.alternative for p in kept] == ["put apple in floor"]
    assert counts == {"verified_worse": 1, "as_good_as_expert": 1, "check": "outcome"}


def _trajectory(env):
    from actrain.data.trajectories import collect_expert_trajectory

    return collect_expert_trajectory(env, "t")


def test_the_hard_set_holds_same_kind_alternatives_verified_worse_in_both_orders():
    env = Tidy()
    pairs, stats = hard_pairs(env, [_trajectory(env)], history_len=0, per_state=5)
    alternatives = {(p.step, p.alternative) for p in pairs}
    # `take cup` at step 0 is the same kind but only swaps the order: not worse, not kept;
    # `take apple` at step 2 takes it out of its place, which the expert's plan never undoes.
    assert alternatives == {(1, "put apple in floor"), (1, "put apple in shelf"),
                            (2, "take apple"), (3, "put cup in basket"), (3, "put cup in floor")}
    assert all(p.expert_action.split()[0] == p.alternative.split()[0] for p in pairs)
    assert sorted(p.expert_first for p in pairs) == [False] * 5 + [True] * 5
    assert all(p.actions[p.label] == p.expert_action for p in pairs)
    assert stats["pairs"] == 5 and stats["by_verb"] == {"put": 4, "take": 1}
    assert stats["check"] == "outcome" and stats["states_with_same_kind"] == 4
    # The first-word rule cannot tell such pairs apart: exactly chance.
    train = [actrain.pair("", "o", "put a in b", "look")]
    assert verb_prior_accuracy(train, pairs) == 0.5


def test_per_state_and_max_checks_bound_the_set():
    env = Tidy()
    pairs, stats = hard_pairs(env, [_trajectory(env)], history_len=0, per_state=1)
    assert stats["pairs"] == 3 and len(pairs) == 6
    _, bounded = hard_pairs(env, [_trajectory(env)], history_len=0, per_state=5, max_checks=1)
    assert bounded["checked"] == 4  # one candidate a state that has any


def test_same_kind_is_the_expert_verb_and_never_the_expert_action():
    assert same_kind("Put apple in basket", ["put apple in basket", "put apple in floor",
                                             "take cup"]) == ["put apple in floor"]


def test_the_whole_action_rule_knows_where_training_experts_put_things():
    trajectories = [expert_path("t", ["put apple in basket"] * 2)]
    heldout = [actrain.pair("", "o", "put apple in basket", "put apple in floor"),
               actrain.pair("", "o", "put pear in box", "put pear in floor")]
    assert action_prior_accuracy(trajectories, heldout) == (1 + 0.5) / 2
    rules = rule_accuracies([], trajectories, heldout)
    assert rules["first_word"] == 0.5 and rules["best"] == rules["whole_action"] == 0.75
    assert rule_accuracies([], trajectories, [])["best"] is None


def test_the_hard_set_must_be_held_out():
    from actrain.config.schema import load_config
    from actrain.errors import ActrainError

    with pytest.raises(ActrainError, match="held-out split"):
        load_config(None, ["hard_set.split=train"])
    with pytest.raises(ActrainError, match="per_state"):
        load_config(None, ["hard_set.per_state=0"])


def test_same_kind_training_alternatives_and_their_share(monkeypatch):
    """`alternatives.kind: same` draws only the expert's kind of action (a state without one
    gets no pair), `prefer_same` falls back to any kind there; the pairs' stats say the share."""
    from actrain.config.schema import load_config
    from actrain.data import alternatives as pairs_module
    from actrain.prompts import ActorView

    trajectories = [{"task": "t", "task_description": "", "steps": [
        {"observation": "o", "admissible": ["look", "take cup", "take apple"],
         "expert_action": "take apple"},
        {"observation": "o", "admissible": ["look", "put apple in floor", "put apple in basket"],
         "expert_action": "put apple in basket"},
        {"observation": "o", "admissible": ["look", "wait"], "expert_action": "wait"}]}]
    monkeypatch.setattr(pairs_module, "score_continuations",
                        lambda model, tok, prompts, options, dtype, desc: [[0.0] * len(o)
                                                                          for o in options])
    monkeypatch.setattr(ActorView, "prompt", lambda *args: "prompt")
    for kind, want in (("same", {"take cup", "put apple in floor"}),
                       ("prefer_same", {"take cup", "put apple in floor", "look"})):
        config = load_config(None, ["alternatives.mode=admissible", f"alternatives.kind={kind}",
                                    "alternatives.random_fallback=false"])
        pairs, stats = pairs_module.make_pairs(None, None, trajectories, config, False, 0)
        assert {p.alternative for p in pairs} == want
        assert stats["kinds"]["same_kind"] == 2
        assert stats["kinds"]["pairs"] == len(want)


def test_kind_needs_admissible_alternatives_and_keeps_old_keys_at_any():
    from actrain.config.schema import load_config
    from actrain.errors import ActrainError
    from actrain.run.keys import RunKeys

    with pytest.raises(ActrainError, match="needs alternatives.mode admissible"):
        load_config(None, ["alternatives.kind=same"])
    with pytest.raises(ActrainError, match="alternatives.kind must be one of"):
        load_config(None, ["alternatives.kind=similar", "alternatives.mode=admissible"])
    base = RunKeys(load_config(None, ["alternatives.mode=admissible"]))
    same = RunKeys(load_config(None, ["alternatives.mode=admissible", "alternatives.kind=same"]))
    assert base.data_key("pairs") != same.data_key("pairs")
    # a share of usual pairs beside them makes other pairs
    shared = load_config(None, ["alternatives.mode=admissible", "alternatives.kind=same",
                                "alternatives.usual_share=0.25"])
    assert RunKeys(shared).data_key("pairs") != same.data_key("pairs")


STATES = [{"task": "t", "task_description": "", "steps": [
    {"observation": "o", "admissible": ["look", "take cup", "take apple", "take pear"],
     "expert_action": "take apple"},
    {"observation": "o", "admissible": ["look", "put apple in floor", "put apple in basket",
                                        "inventory"], "expert_action": "put apple in basket"},
    {"observation": "o", "admissible": ["look", "wait", "put cup in floor"],
     "expert_action": "wait"},
    {"observation": "o", "admissible": ["look", "take pear", "put cup in shelf",
                                        "put cup in floor"], "expert_action": "put cup in shelf"},
]}]


def test_random_alternatives_need_no_model_and_keep_the_kind():
    """`alternatives.mode: random` draws uniformly among the kind's admissible actions: no
    model is asked (None here), the same seed gives the same pairs, and `kind: same` holds."""
    from actrain.config.schema import load_config
    from actrain.data.alternatives import make_pairs

    config = load_config(None, ["alternatives.mode=random", "alternatives.kind=same",
                                "alternatives.random_fallback=false"])
    pairs, stats = make_pairs(None, None, STATES, config, False, 0)
    assert {p.step for p in pairs} == {0, 1, 3}  # the `wait` state has no other `wait`
    assert all(p.alternative.split()[0] == p.expert_action.split()[0] for p in pairs)
    assert make_pairs(None, None, STATES, config, False, 0)[0] == pairs
    assert stats["kinds"]["same_kind"] == 3 and "usual" not in stats
    drawn = {make_pairs(None, None, STATES, config, False, seed)[0][0].alternative
             for seed in range(20)}
    assert drawn == {"take cup", "take pear"}  # both same-kind options of state 0 come up


def test_a_share_of_usual_pairs_joins_unverified(monkeypatch):
    """`alternatives.usual_share` gives that share of the states one more pair of any kind,
    which the verification does not filter: with every verified pair dropped, the usual ones
    stay, and none repeats a pair already there."""
    import contextlib

    import actrain.data.verify as verify
    import actrain.envs as envs
    from actrain.config.schema import load_config
    from actrain.data.alternatives import make_pairs

    monkeypatch.setattr(envs, "from_config", lambda env: contextlib.nullcontext())
    monkeypatch.setattr(verify, "keep_verified_worse",
                        lambda env, pairs, trajectories: ([], {"verified_worse": 0}))
    config = load_config(None, ["alternatives.mode=random", "alternatives.kind=same",
                                "alternatives.verify=true", "alternatives.usual_share=0.5"])
    pairs, stats = make_pairs(None, None, STATES, config, False, 0)
    assert len(pairs) == 2 and stats["usual"]["states"] == 2  # half of the 4 states
    assert len({p.key for p in pairs}) == 2
    assert stats["verified_worse"] == 0 and stats["kinds"]["pairs"] == 2
    everything = load_config(None, ["alternatives.mode=random", "alternatives.usual_share=1"])
    pairs, stats = make_pairs(None, None, STATES, everything, True, 0)
    assert stats["usual"]["states"] == 4
    per_state: dict[int, set[str]] = {}
    for p in pairs:
        per_state.setdefault(p.step, set()).add(p.alternative)
    assert sorted(per_state) == [0, 1, 2, 3]
    assert all(1 <= len(alts) <= 2 for alts in per_state.values())
    assert len(pairs) == 2 * sum(map(len, per_state.values()))  # both orders, no copies


def test_usual_share_and_random_mode_are_checked():
    from actrain.config.schema import load_config
    from actrain.errors import ActrainError

    with pytest.raises(ActrainError, match="usual_share is a share of the states"):
        load_config(None, ["alternatives.usual_share=1.5"])
    with pytest.raises(ActrainError, match="alternatives.mode must be one of sample, "
                                           "admissible, random"):
        load_config(None, ["alternatives.mode=uniform"])
    load_config(None, ["alternatives.mode=random", "alternatives.kind=prefer_same"])


def test_alternatives_are_told_apart_by_kind():
    from actrain.data.hard_pairs import alternative_kind

    assert alternative_kind("put cup in shelf", "put cup in floor") == "same kind: placement"
    assert alternative_kind("take apple", "take cup") == "same kind: other verbs"
    assert alternative_kind("take apple", "look around") == "stall"
    assert alternative_kind("take apple", "inventory") == "stall"
    assert alternative_kind("take apple", "open fridge") == "other kind"


def test_a_random_fallback_keeps_to_the_kind():
    """With `random_fallback` on (the default), `kind: same` still gives a state without the
    expert's kind no pair, and `prefer_same` falls back to any kind there."""
    from actrain.config.schema import load_config
    from actrain.data.alternatives import make_pairs

    same = load_config(None, ["alternatives.mode=random", "alternatives.kind=same"])
    pairs, stats = make_pairs(None, None, STATES, same, False, 0)
    assert {p.step for p in pairs} == {0, 1, 3} and stats["random_fallback"] == 0
    assert stats["states_without_alternative"] == 1
    prefer = load_config(None, ["alternatives.mode=random", "alternatives.kind=prefer_same"])
    pairs, _ = make_pairs(None, None, STATES, prefer, False, 0)
    assert {p.step for p in pairs} == {0, 1, 2, 3}
