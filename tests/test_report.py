"""report.md from a stored results file (no model needed)."""

import json

from helpers.trajectories import expert_path

import actrain
from actrain.config.schema import load_config, to_dict
from actrain.report.agent import act_gains, agent_table, aggregate
from actrain.report.markdown import write_report
from actrain.runtime.io import read_json, write_json, write_jsonl

BASE = {"pairs": 40, "accuracy": 0.5, "accuracy_expert_first": 0.0,
        "accuracy_expert_second": 1.0, "balanced_accuracy": 0.5,
        "format_failure_rate": 0.0, "picks_first_rate": 0.0}
ACT = {"pairs": 40, "accuracy": 0.8, "accuracy_expert_first": 0.75,
       "accuracy_expert_second": 0.85, "balanced_accuracy": 0.8,
       "format_failure_rate": 0.05, "picks_first_rate": 0.45}
PAIR_STATS = {"states": 10, "candidates": 20, "malformed": 5, "equals_expert": 1,
              "not_admissible": 4, "duplicate": 0, "from_policy": 6, "random_fallback": 4,
              "states_without_alternative": 0}


def _summary(id_success: float, ood_success: float) -> dict:
    def split(success: float) -> dict:
        return {"episodes": 4, "success_rate": success, "mean_score": 100 * success,
                "mean_steps": 5.0, "invalid_action_rate": 0.1, "malformed_rate": 0.0,
                "hit_max_steps": 0}

    return {"id_test": split(id_success), "ood_test": split(ood_success)}


def _results() -> dict:
    config = to_dict(load_config(None, ["name=r"]))
    methods = ["prompt", "il", "act_il", "il_rl", "act_il_rl"]
    agent = {
        "prompt": {"0": _summary(0.0, 0.0), "1": _summary(0.0, 0.0)},
        "il": {"0": _summary(0.50, 0.25), "1": _summary(0.25, 0.25)},
        "act_il": {"0": _summary(0.75, 0.50), "1": _summary(0.50, 0.25)},
        "il_rl": {"0": _summary(0.50, 0.50), "1": _summary(0.50, 0.50)},
        "act_il_rl": {"0": _summary(0.50, 0.50)},
    }
    history = [{"step": i, "reward": 0.1 * i, "rewards/accuracy/mean": 0.5 + 0.05 * i,
                "frac_reward_zero_std": 0.25} for i in range(1, 6)]
    return {
        "name": "r", "methods": methods, "seeds": [0, 1], "config": config, "agent": agent,
        "protocol": {"env": "twx/twc", "splits": ["id_test", "ood_test"], "max_steps": 15},
        "critic": {"base": BASE, "seed0-act": ACT},
        "training": {
            "seed0-act": {"stage": "act", "log_history": history,
                          "critic_curve": [{"step": 5, **ACT}]},
            "seed0-il": {"stage": "il", "log_history": [{"step": 1, "loss": 2.0},
                                                        {"step": 2, "loss": 1.5}]},
            "seed0-il-rl": {"stage": "rl", "log_history": [{"step": 1, "reward": 0.2}]},
        },
        "stages": {"collect": {"fingerprint": "x", "seconds": 1.0}},
        "data": {"pairs": {"train": PAIR_STATS}},
    }


def test_agent_table_is_mean_and_std_over_seeds_in_paper_layout():
    table = agent_table(_results())
    assert "| method | seeds | id_test success % | ood_test success % |" in table
    assert "| il | 2 | 37.5 ± 17.7 | 25.0 ± 0.0 |" in table
    assert "| act_il_rl | 1 | 50.0 | 50.0 |" in table  # one seed: no std shown


def test_aggregate_gives_mean_and_std_per_method_and_split():
    table = aggregate(_results())
    assert table["il"]["id_test"]["seeds"] == 2
    assert table["il"]["id_test"]["success_mean"] == 0.375
    assert abs(table["il"]["id_test"]["success_std"] - 0.1768) < 1e-3
    assert table["act_il_rl"]["ood_test"] == {"seeds": 1, "success_mean": 0.5, "success_std": 0.0,
                                              "score_mean": 50.0, "score_std": 0.0}


def test_act_gain_is_the_average_of_per_split_deltas():
    gains = "\n".join(act_gains(_results()))
    # act_il - il: id 62.5 - 37.5 = +25, ood 37.5 - 25 = +12.5 -> +18.75
    assert "ACT->IL over IL: **+18.8 points**" in gains
    assert "ACT->IL->RL over IL->RL: **+0.0 points**" in gains
    assert "matched length" not in gains  # no il_il / il_rl_rl in these results


def test_report_from_stored_results_file(tmp_path):
    write_json(tmp_path / "results.json", _results())
    write_jsonl(tmp_path / "agent" / "seed0-act-il-rl.episodes.jsonl", [{
        "task": "id_test:3", "split": "id_test", "won": True, "steps": 2,
        "transcript": [{"action": "take apple", "valid": True, "observation": "Taken."},
                       {"action": None, "valid": False, "observation": "(no action)"}],
    }])
    text = write_report(tmp_path, read_json(tmp_path / "results.json")).read_text()
    assert "## Evaluation protocol" in text and "- max steps: 15" in text
    assert "| act_il | 2 | 62.5 ± 17.7 | 37.5 ± 17.7 |" in text
    assert "| base | 40 | 50.0% | 0.0% | 100.0% | 0.0% | 0.0% |" in text
    assert "| seed0-act | 40 | 80.0% | 75.0% | 85.0% | 5.0% | 45.0% |" in text
    assert "6 sampled from the base policy, 4 random admissible fallbacks (40%)" in text
    assert "accuracy 0.65" in text  # mean training accuracy over the logged ACT steps
    assert "> take apple" in text and "(malformed)   [invalid]" in text
    for png in ("agent_success.png", "training.png"):
        assert (tmp_path / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    json.dumps(_results())  # the results file stays plain JSON
    assert "rule: the expert's more frequent first word_ (no model) | n/a | n/a |" in text


def test_report_leads_with_the_hard_set_beside_the_rules_and_the_held_out_pairs(tmp_path):
    hard = {**ACT, "pairs": 20, "balanced_accuracy": 0.7, "accuracy_expert_first": 0.6,
            "accuracy_expert_second": 0.8}
    results = {**_results(), "critic_hard": {"base": BASE, "seed0-act": hard},
               "rules": {"heldout": {"first_word": 0.75, "whole_action": 0.6, "best": 0.75},
                         "hard": {"first_word": 0.5, "whole_action": 0.55, "best": 0.55}}}
    results["data"]["hard_set"] = {"pairs": 10, "trajectories": 5, "by_verb": {"put": 10},
                                   "check": "outcome", "verified_worse": 10, "checked": 14}
    text = write_report(tmp_path, results).read_text()
    verdict = text.split("## Setup")[0]
    assert "critic on the hard set (20 prompts" in verdict and "**70.0%** balanced for " \
        "`seed0-act` (expert first 60.0%, second 80.0%); untrained 50.0%, best no-model rule " \
        "55.0%" in verdict
    assert "| seed0-act | 70.0% (60.0% / 80.0%) | 80.0% (75.0% / 85.0%) |" in text
    assert "| _rule: the expert's more frequent first word_ (no model) | 50.0% | 75.0% |" in text
    assert "| _rule: the action experts wrote more often_ (no model) | 55.0% | 60.0% |" in text
    assert "10 pairs from the expert states of 5 held-out" in text and "`put` 10" in text
    assert text.index("hard set (expert first") < text.index("### Held-out pairs")


def test_gathered_results_hold_the_rules_on_both_sets(tmp_path):
    from actrain.run.layout import RunLayout
    from actrain.run.results import rule_results

    layout = RunLayout(load_config(None, [f"runs_dir={tmp_path}", "name=r"]))
    pair = actrain.pair("", "o", "take apple", "inventory")
    pear = actrain.pair("", "o", "take apple", "take pear")
    write_jsonl(layout.train_pairs, [pair] * 3)
    write_jsonl(layout.train_traj, [expert_path("t", ["take apple"])])
    write_jsonl(layout.eval_pairs, [pair, pear])
    assert rule_results(layout) == {"heldout": {"first_word": 0.75, "whole_action": 1.0,
                                                "best": 1.0}}
    write_jsonl(layout.hard_pairs, [pear])
    assert rule_results(layout)["hard"] == {"first_word": 0.5, "whole_action": 1.0, "best": 1.0}


def test_report_without_results_says_so(tmp_path):
    results = _results()
    results.update(agent={}, critic={}, training={})
    text = write_report(tmp_path, results).read_text()
    assert "no agent evaluation yet" in text and "critic accuracy" not in text


def test_verdict_weighs_the_difference_against_its_noise():
    from actrain.report.agent import verdict

    results = _results()
    results["critic"] = {"base": BASE, "seed0-act": ACT}
    lines = verdict(results)
    assert "50.0% (base) -> 80.0%" in lines[0]
    # 8 episodes a method: 62.5% vs 37.5% on id_test is within two standard errors (~49 points)
    id_line = next(line for line in lines if "ACT->IL over IL, `id_test`" in line)
    assert "no measurable gain" in id_line and "+25.0 points" in id_line
    assert "8 and 8 episodes" in id_line and "success (mean ± std over" in id_line
    # The same rates over 400 episodes a seed are well beyond the noise.
    for method in ("il", "act_il"):
        for summary in results["agent"][method].values():
            summary["id_test"]["episodes"] = 400
    id_line = next(line for line in verdict(results) if "ACT->IL over IL, `id_test`" in line)
    assert "ACT helped" in id_line
    results["agent"]["il"], results["agent"]["act_il"] = (
        results["agent"]["act_il"], results["agent"]["il"])
    assert "ACT hurt" in next(line for line in verdict(results) if "ACT->IL over IL, `id_test`" in line)


def test_critic_accuracy_by_kind_of_alternative(tmp_path):
    from actrain.report.critic import by_alternative_verb

    rows = []
    for i in range(4):
        for expert_first in (True, False):
            actions = ["take shirt", "inventory" if i < 3 else "look around"]
            label = 0 if expert_first else 1
            if not expert_first:
                actions.reverse()
            picked = label if i < 3 else 0  # right on inventory pairs, always "1" on look
            rows.append({"actions": actions, "label": label, "expert_first": expert_first,
                         "picked": picked})
    write_jsonl(tmp_path / "critic" / "seed0-act.predictions.jsonl", rows)
    table = by_alternative_verb(tmp_path, ["base", "seed0-act"])
    assert "| `inventory` | 6 | 100.0% |" in table
    assert "| `look` | 2 | 50.0% |" in table
    assert by_alternative_verb(tmp_path / "none", ["base"]) == ""


def test_critic_accuracy_by_kind_on_held_out_pairs_and_the_hard_set(tmp_path):
    """The kinds table shows a critic right on one kind and naming position 1 on another:
    50% balanced there, with both orders beside it."""
    from actrain.report.critic import by_alternative_kind

    def rows(pairs, right):
        out = []
        for expert, alternative in pairs:
            for expert_first in (True, False):
                label = 0 if expert_first else 1
                actions = [expert, alternative] if expert_first else [alternative, expert]
                out.append({"actions": actions, "label": label, "expert_first": expert_first,
                            "picked": label if right else 0})
        return out

    write_jsonl(tmp_path / "critic" / "seed0-act.predictions.jsonl",
                rows([("take shirt", "inventory")] * 3, right=True)
                + rows([("take shirt", "open door")], right=False))
    write_jsonl(tmp_path / "critic" / "seed0-act.hard.predictions.jsonl",
                rows([("put cup in shelf", "put cup in floor")] * 2, right=True))
    table = by_alternative_kind(tmp_path, ["base", "seed0-act"])
    assert "| held-out | stall | 6 | 100.0% (100.0% / 100.0%) |" in table
    assert "| held-out | other kind | 2 | 50.0% (100.0% / 0.0%) |" in table
    assert "| hard set | same kind: placement | 4 | 100.0% (100.0% / 100.0%) |" in table
    assert "base" not in table.splitlines()[0]  # no predictions of it: no column
    assert by_alternative_kind(tmp_path / "none", ["base"]) == ""


def test_the_critic_plot_has_a_hard_set_panel_from_the_curve():
    from actrain.report.plots import critic_points

    metric = {"balanced_accuracy": 0.5, "accuracy_expert_first": 1.0,
              "accuracy_expert_second": 0.0}
    results = {"critic": {"base": metric, "seed0-act": metric},
               "critic_hard": {"base": metric, "seed0-act": {**metric, "balanced_accuracy": 0.8}},
               "training": {"seed0-act": {"length": {"steps": 8}, "critic_curve": [
                   {"step": 4, **metric, "hard": {**metric, "balanced_accuracy": 0.6}}]}}}
    hard = critic_points(results, "seed0-act", hard=True)
    assert [(p["step"], p["balanced_accuracy"]) for p in hard] == [(0, 0.5), (4, 0.6), (8, 0.8)]
    assert [p["step"] for p in critic_points(results, "seed0-act")] == [0, 4, 8]
    results["training"]["seed0-act"]["critic_curve"][0].pop("hard")
    assert [p["step"] for p in critic_points(results, "seed0-act", hard=True)] == [0, 8]


def test_verdict_of_two_zero_rates_is_not_certain():
    from actrain.report.agent import verdict

    results = _results()
    for method in ("il", "act_il"):
        for summary in results["agent"][method].values():
            summary["id_test"]["success_rate"] = 0.0
    line = next(line for line in verdict(results) if "ACT->IL over IL, `id_test`" in line)
    assert "no measurable gain" in line and "two standard errors = 0.0" not in line


def test_a_run_on_oracle_trajectories_gets_its_report(tmp_path):
    results = _results()
    results["data"] = {"trajectories": {
        "train": {"tasks": 5, "won": 3, "states": 40, "off_path_states": 12}}}
    text = write_report(tmp_path, results).read_text()  # (a KeyError before)
    assert "oracle trajectories `train`: 5 tasks (3 won)" in text


def test_data_lines_read_both_kinds_of_trajectory_stats():
    from actrain.report.markdown import trajectory_line

    expert = trajectory_line("train", {"tasks": 5, "kept": 4, "expert_not_won": 1})
    assert expert == "- expert trajectories `train`: 4 of 5 tasks kept (1 not won by the expert)"
    oracle = trajectory_line("train", {"tasks": 5, "won": 3, "states": 40, "off_path_states": 12})
    assert "5 tasks (3 won), 40 states, 12 of them off the expert path" in oracle


def test_report_opens_with_the_verdict_and_the_paper(tmp_path):
    text = write_report(tmp_path, _results()).read_text()
    head = text.split("## Setup")[0]
    assert "arxiv.org/abs/2603.08706" in head and "## Verdict" in head
    assert "**ACT->IL over IL, `id_test`: no measurable gain**" in head
    assert "**ACT->IL->RL over IL->RL, `id_test`" in head  # both comparisons the paper makes
    assert "held-out balanced accuracy 50.0% (base) -> 80.0%" in head and "chance 50.0%" in head


def test_report_without_an_act_comparison_says_so(tmp_path):
    results = _results()
    results["methods"] = ["prompt", "act"]
    results["agent"] = {"prompt": results["agent"]["prompt"]}
    head = write_report(tmp_path, results).read_text().split("## Setup")[0]
    assert "no agent comparison with and without ACT" in head


def test_setup_names_only_the_stages_that_ran(tmp_path):
    results = _results()
    results["methods"] = ["prompt", "il"]
    setup = write_report(tmp_path, results).read_text().split("## Setup")[1].split("##")[0]
    assert "- IL:" in setup and "- ACT:" not in setup and "- RL:" not in setup
    results["methods"] = ["prompt", "act_il_rl"]
    setup = write_report(tmp_path, results).read_text().split("## Setup")[1].split("##")[0]
    assert "- IL:" in setup and "- ACT:" in setup and "- RL:" in setup


def test_critic_points_run_from_base_to_the_final_evaluation():
    from actrain.report.plots import critic_points

    results = _results()
    results["training"]["seed0-act"]["length"] = {"steps": 9}
    points = critic_points(results, "seed0-act")
    assert [p["step"] for p in points] == [0, 5, 9]  # base, recorded curve, final evaluation
    assert points[0]["balanced_accuracy"] == BASE["balanced_accuracy"]
    assert points[-1]["balanced_accuracy"] == ACT["balanced_accuracy"]


def test_report_draws_critic_orders_and_labelled_bars(tmp_path):
    text = write_report(tmp_path, _results()).read_text()
    assert "![held-out critic accuracy by shown order](plots/critic.png)" in text
    for name in ("critic.png", "agent_success.png", "training.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 5000, name


def test_success_bars_carry_value_and_n(tmp_path, monkeypatch):
    import matplotlib.axes

    from actrain.report.plots import plot_success

    texts = []
    real = matplotlib.axes.Axes.text
    monkeypatch.setattr(matplotlib.axes.Axes, "text",
                        lambda self, x, y, s, *a, **k: texts.append(s) or real(self, x, y, s, *a, **k))
    table = {"il": {"id_test": [0.0, 0.0]}, "act_il": {"id_test": [0.1, 0.3]}}
    episodes = {"il": {"id_test": (2, 60)}, "act_il": {"id_test": (2, 60)}}
    assert plot_success(table, ["id_test"], tmp_path / "s.png", episodes)
    assert texts == ["0%\nn=2x30", "20%\nn=2x30"]  # a 0% bar still says what it is


def test_the_agent_table_shows_the_raw_mean_score_where_failures_pulled_it_below():
    results = _results()
    for split in ("id_test", "ood_test"):
        results["agent"]["il"]["0"][split]["mean_score_raw"] = -25.0  # failed episodes: -100
        results["agent"]["il"]["1"][split]["mean_score_raw"] = -25.0
    for summary in results["agent"]["act_il"].values():  # nothing failed: raw equals clipped
        for row in summary.values():
            row["mean_score_raw"] = row["mean_score"]
    table = agent_table(results)
    il = next(line for line in table.splitlines() if line.startswith("| il |"))
    assert "37.50 ± 17.68 (raw -25.00 ± 0.00)" in il
    act_il = next(line for line in table.splitlines() if line.startswith("| act_il |"))
    assert "raw" not in act_il
    assert aggregate(results)["il"]["id_test"]["score_raw_mean"] == -25.0
    assert "score_raw_mean" not in aggregate(_results())["il"]["id_test"]


def _paired(diff: float, low: float, high: float, units: int = 500) -> dict:
    return {"diff": diff, "low": low, "high": high, "level": 0.95, "units": units,
            "seeds": ["0", "1"], "resamples": 2000}


def test_the_verdict_reads_the_paired_intervals_led_by_next_action():
    from actrain.report.agent import verdict

    results = _results()
    results["paired"] = [
        {"a": "act_il", "b": "il", "label": "ACT->IL over IL", "split": "id_test",
         "next_action": _paired(0.032, 0.011, 0.054), "success": _paired(0.25, -0.25, 0.5, 4)},
        {"a": "act_il", "b": "il", "label": "ACT->IL over IL", "split": "ood_test",
         "next_action": _paired(0.004, -0.012, 0.021), "success": None},
        {"a": "act_il_rl", "b": "il_rl", "label": "ACT->IL->RL over IL->RL", "split": "id_test",
         "next_action": None, "success": _paired(-0.3, -0.5, -0.1, 4)},
    ]
    lines = verdict(results)
    by = {(label, split): next(line for line in lines if f"{label}, `{split}`" in line)
          for label, split in (("ACT->IL over IL", "id_test"), ("ACT->IL over IL", "ood_test"),
                               ("ACT->IL->RL over IL->RL", "id_test"))}
    line = by["ACT->IL over IL", "id_test"]
    assert "ACT helped (95% CI [+1.1, +5.4])" in line
    assert "next-action accuracy +3.2 points, seen" in line and "500 held-out expert states" in line
    assert "success +25.0 points, no difference this measurement can see (95% CI [-25.0, +50.0]" \
        in line
    assert "no difference this measurement can see (95% CI [-1.2, +2.1])" in \
        by["ACT->IL over IL", "ood_test"]
    assert "ACT hurt" in by["ACT->IL->RL over IL->RL", "id_test"]  # success alone, where no states
    # the pairs without paired results keep the summaries' judgment
    assert any("ACT->IL->RL over IL->RL, `ood_test`" in line and "two standard errors" in line
               for line in lines)


def test_the_agent_part_leads_with_the_paired_table_and_labels_the_success_table():
    results = _results()
    results["paired"] = [{"a": "act_il", "b": "il", "label": "ACT->IL over IL",
                          "split": "id_test", "next_action": _paired(0.032, 0.011, 0.054),
                          "success": _paired(0.25, -0.25, 0.5, 4)}]
    table = agent_table(results)
    head = ("| method A over method B | split | next-action diff [95% CI] | success diff [95% CI] "
            "| states | episodes | seed ids |")
    assert table.index(head) < table.index("| method | seeds |")
    assert "| ACT->IL over IL | id_test | **+3.2 [+1.1, +5.4]** | +25.0 [-25.0, +50.0] | 500 " \
           "| 4 | 0, 1 |" in table
    assert "rest on 4 episodes a seed" in table


def test_next_action_columns_per_split_and_from_older_result_files():
    results = _results()
    for method, by_seed in results["agent"].items():
        for summary in by_seed.values():
            summary["next_action"] = {
                "states": 20, "accuracy": 0.5, "malformed_rate": 0.0, "truncated_rate": 0.0,
                "id_test": {"states": 10, "accuracy": 0.6 if method == "il" else 0.4,
                            "malformed_rate": 0.0, "truncated_rate": 0.0},
                "ood_test": {"states": 10, "accuracy": 0.4, "malformed_rate": 0.0,
                             "truncated_rate": 0.2}}
    table = agent_table(results)
    assert "| id_test next-action acc. % | ood_test next-action acc. % |" in table
    assert "| il | 2 | 37.5 ± 17.7 | 25.0 ± 0.0 |" in table and "| 60.0 ± 0.0 | 40.0 ± 0.0 |" in table
    from actrain.report.agent import truncation_warnings

    warning = truncation_warnings(results)[0]
    assert "agent `il` seed 0 next-action ood-test 20.0%" in warning
    for by_seed in results["agent"].values():  # an older file: one flat figure
        for summary in by_seed.values():
            summary["next_action"] = {"states": 20, "accuracy": 0.5, "malformed_rate": 0.0,
                                      "truncated_rate": 0.0}
    assert "next-action acc. % (held-out expert states) |" in agent_table(results)


def test_gains_hold_methods_that_name_their_act_objective():
    from actrain.report.agent import gains

    found = gains(["il", "il_il", "act-grpo_il", "act_il", "act-sft_il_rl", "act", "prompt"])
    assert ("act_il", "il", "ACT->IL over IL") in found
    assert ("act-grpo_il", "il", "ACT-GRPO->IL over IL") in found
    assert ("act-grpo_il", "il_il", "ACT-GRPO->IL over IL->IL (matched length)") in found
    assert ("act-sft_il_rl", "il_rl", "ACT-SFT->IL->RL over IL->RL") in found
    assert not [g for g in found if g[0] in ("act", "prompt", "il")]


def test_a_run_without_episodes_shows_next_action_accuracy_by_method():
    results = _results()
    for by_seed in results["agent"].values():
        for seed in list(by_seed):
            by_seed[seed] = {"id_test": {"episodes": 0}, "ood_test": {"episodes": 0},
                             "next_action": {"id_test": {"states": 4, "accuracy": 0.5},
                                             "ood_test": {"states": 4, "accuracy": 0.25}}}
    table = agent_table(results)
    assert "no episodes were played" in table
    assert "| il | 2 | 50.0 ± 0.0 | 25.0 ± 0.0 |" in table


def test_the_pairs_line_says_how_alternatives_were_drawn_and_the_usual_pairs():
    from actrain.report.markdown import pair_line

    stats = {**PAIR_STATS, "random_fallback": 0, "drawn_from_admissible": 6, "mode": "random",
             "kind": "same", "usual": {**PAIR_STATS, "states": 3, "from_policy": 3,
                                       "random_fallback": 0}}
    line = pair_line("train", stats)
    assert "drawn uniformly at random (no model) among the admissible actions of the expert's "\
        "kind" in line
    assert "3 usual pairs (any kind, not verified) at 3 of the states" in line
    assert "base policy" in pair_line("train", {**stats, "mode": "admissible"})
