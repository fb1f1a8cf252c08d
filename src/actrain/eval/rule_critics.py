"""Critics with no model: the surface baselines every critic figure stands beside.

A trained critic that does not beat these rules on the same pairs has learnt which actions
experts tend to write, not judgment. Both rules ignore the shown order, so their accuracy is
already balanced, and both learn only from the run's training data.

- `verb_prior_accuracy`: prefer the action whose first word ("take", "inventory") belonged to
  the expert more often in the training pairs. On pairs whose alternative is the same kind of
  action as the expert's (the hard set, `data/hard_pairs.py`) it is at chance by construction.
- `action_prior_accuracy`: prefer the action experts wrote more often, word for word, in the
  training trajectories. On games that reuse objects and places it can know where an object
  goes without reading the state: the bar a critic must clear to show it reads the state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from actrain.prompts import first_word, normalise_action
from actrain.records import Pair, Trajectory


def _pairwise(heldout: Sequence[Pair], score: Callable[[str], float]) -> float | None:
    """Accuracy of picking the higher-scoring action of each pair (a tie counts half)."""
    if not heldout:
        return None
    right = 0.0
    for pair in heldout:
        expert, other = score(pair.expert_action), score(pair.alternative)
        right += 1.0 if expert > other else 0.5 if expert == other else 0.0
    return right / len(heldout)


def verb_prior_accuracy(
    train_pairs: Sequence[Pair], heldout_pairs: Sequence[Pair], k: int = 2
) -> float | None:
    """The first-word rule: from the training pairs, how often each first word belongs to the
    expert's action; on a held-out pair, the action whose first word scores higher wins (a tie
    counts half; K-way: the best of K, ties shared)."""
    if not heldout_pairs:
        return None
    wins: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for pair in train_pairs:
        expert, other = first_word(pair.expert_action), first_word(pair.alternative)
        wins[expert] += 1
        seen.update((expert, other))

    def score(word: str) -> float:
        return (wins[word] + 0.5) / (seen[word] + 1)  # unseen words: 0.5

    if k > 2:  # K-way: the candidate whose first word scores highest (ties shared)
        from actrain.data.kway import kway_items

        items, _ = kway_items([p for p in heldout_pairs if p.expert_first], k, True)
        if not items:
            return None
        right = 0.0
        for item in items:
            scores = [score(first_word(a)) for a in item.actions]
            top = [i for i, v in enumerate(scores) if v == max(scores)]
            right += 1 / len(top) if item.label in top else 0.0
        return right / len(items)
    return _pairwise(heldout_pairs, lambda action: score(first_word(action)))


def action_prior_accuracy(
    train_trajectories: Sequence[Trajectory], heldout_pairs: Sequence[Pair]
) -> float | None:
    """The whole-action rule: the action the experts of the training trajectories wrote more
    often (after normalising) wins; actions they never wrote score 0 (a tie counts half)."""
    written = Counter(normalise_action(step.expert_action)
                      for trajectory in train_trajectories for step in trajectory.steps)
    return _pairwise(heldout_pairs, lambda action: written[normalise_action(action)])


def rule_accuracies(
    train_pairs: Sequence[Pair],
    train_trajectories: Sequence[Trajectory],
    heldout_pairs: Sequence[Pair],
    k: int = 2,
) -> dict[str, float | None]:
    """Both rules on one set of held-out pairs, and the better of them (`best`)."""
    rules = {"first_word": verb_prior_accuracy(train_pairs, heldout_pairs, k),
             "whole_action": action_prior_accuracy(train_trajectories, heldout_pairs)
             if k == 2 else None}
    known = [v for v in rules.values() if v is not None]
    return {**rules, "best": max(known) if known else None}
