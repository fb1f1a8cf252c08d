import actrain
from actrain.eval.critic import critic_metrics
from actrain.records import Pair


def _pairs(n_first: int, n_second: int) -> list[Pair]:
    return [actrain.pair("t", "o", "take apple", "look", expert_first=True)] * n_first + [
        actrain.pair("t", "o", "take apple", "look", expert_first=False)
    ] * n_second


def test_constant_position_scores_exactly_half_balanced():
    pairs = _pairs(30, 10)  # imbalanced orders: plain accuracy would flatter "always 1"
    metrics = critic_metrics(pairs, [0] * 40)
    assert metrics["accuracy"] == 0.75
    assert metrics["balanced_accuracy"] == 0.5
    assert metrics["picks_first_rate"] == 1.0


def test_format_failures_count_as_wrong():
    metrics = critic_metrics(_pairs(2, 2), [0, None, 1, None])
    assert metrics["accuracy_expert_first"] == 0.5
    assert metrics["accuracy_expert_second"] == 0.5
    assert metrics["format_failure_rate"] == 0.5
    assert metrics["balanced_accuracy"] == 0.5


def test_perfect_critic():
    assert critic_metrics(_pairs(3, 3), [0, 0, 0, 1, 1, 1])["balanced_accuracy"] == 1.0


def test_verb_prior_baseline_learns_which_kinds_of_action_experts_take():
    from actrain.eval.rule_critics import verb_prior_accuracy

    def pair(expert: str, other: str) -> Pair:
        return actrain.pair("t", "o", expert, other)

    train = [pair("take apple", "inventory"), pair("take pear", "look"), pair("open door", "take key")]
    # "take" was the expert's 2 times in 3, "inventory" never, "open" once in once
    heldout = [pair("take mug", "inventory"),   # right
               pair("inventory", "take mug"),   # wrong: the prior prefers "take"
               pair("open box", "open lid"),    # tie: half
               pair("fly away", "sing")]        # unseen words: a tie, half
    assert verb_prior_accuracy(train, heldout) == (1 + 0 + 0.5 + 0.5) / 4
    assert verb_prior_accuracy(train, []) is None
