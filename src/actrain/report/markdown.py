"""`report.md` from a run's `results.json`: the verdict first, then setup (the stages that
ran), protocol, agents (`report/agent.py`), critic by shown order, curves, stage lengths, data
and timings.

The report is a pure function of the stored results (plus episode transcripts when present), so
it can be rebuilt at any time and tested without a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.report.agent import (
    act_gains,
    agent_table,
    agent_values,
    truncation_warnings,
    verdict,
)
from actrain.report.critic import critic_section, headline
from actrain.report.model_cards import PAPER
from actrain.report.plots import plot_success, plot_training
from actrain.runtime.io import read_episodes, write_atomic
from actrain.runtime.run_folder import RunFolder
from actrain.stages.inputs import method_stages


def trajectory_line(split: str, s: dict[str, Any]) -> str:
    """One data line: expert paths (`data.source: expert`) or exploring-oracle paths (`oracle`)."""
    if "off_path_states" in s:
        return (f"- oracle trajectories `{split}`: {s['tasks']} tasks ({s['won']} won), "
                f"{s['states']} states, {s['off_path_states']} of them off the expert path")
    return (f"- expert trajectories `{split}`: {s['kept']} of {s['tasks']} tasks kept "
            f"({s['expert_not_won']} not won by the expert)")


def pair_line(split: str, s: dict[str, Any]) -> str:
    if s.get("reused_from"):
        return (f"- pairs `{split}`: reused from `{s['reused_from']}`, alternatives proposed by "
                f"`{s['source_model']}` (not re-collected)")
    kept = s["from_policy"] + s["random_fallback"]
    share = f"{100 * s['random_fallback'] / kept:.0f}%" if kept else "n/a"
    verified = ""
    if "verified_worse" in s:
        verified = (f"; the environment ({s.get('check', 'oracle')} check) found "
                    f"{s['verified_worse']} alternatives worse than the expert's action and "
                    f"{s['as_good_as_expert']} as good (dropped)")
    kinds = s.get("kinds")
    if kinds and kinds.get("pairs"):
        verified += (f"; {kinds['same_kind']} of {kinds['pairs']} kept alternatives "
                     f"({100 * kinds['same_kind_share']:.0f}%) are the expert's kind of action "
                     f"(its first word), {kinds['other_kind']} another kind")
    usual = s.get("usual")
    if usual:
        verified += (f"; beside them, {usual['from_policy'] + usual['random_fallback']} usual "
                     f"pairs (any kind, not verified) at {usual['states']} of the states")
    if s.get("drawn_from_admissible"):
        how = ("uniformly at random (no model)" if s.get("mode") == "random"
               else "from the base policy's own probabilities")
        kind = {"same": " of the expert's kind", "prefer_same": " of the expert's kind where "
                "the state has one"}.get(s.get("kind", "any"), "")
        fallback = (f", and {s['random_fallback']} random fallbacks"
                    if s["random_fallback"] else "")
        return (
            f"- pairs `{split}`: {s['states']} expert states, {s['from_policy']} alternatives "
            f"drawn {how} among the admissible actions{kind}{fallback}; "
            f"{s['states_without_alternative']} states had no such action{verified}"
        )
    return (
        f"- pairs `{split}`: {s['states']} expert states, {kept} alternatives: "
        f"{s['from_policy']} sampled from the base policy, {s['random_fallback']} random "
        f"admissible fallbacks ({share}); of {s['candidates']} sampled candidates "
        f"{s['malformed']} were malformed, {s['not_admissible']} not admissible, "
        f"{s['equals_expert']} equal to the expert, {s['duplicate']} duplicates{verified}"
    )


def training_summary(history: list[dict[str, Any]], last: int = 10) -> str:
    steps = [h for h in history if "reward" in h][-last:]
    if not steps:
        return ""

    def mean(key: str) -> str:
        values = [h[key] for h in steps if h.get(key) is not None]
        return f"{sum(values) / len(values):.2f}" if values else "n/a"

    return (
        f"reward {mean('reward')}, accuracy {mean('rewards/accuracy/mean')} (expert first "
        f"{mean('rewards/accuracy_expert_first/mean')}, second "
        f"{mean('rewards/accuracy_expert_second/mean')}), format ok "
        f"{mean('rewards/format_ok/mean')}, zero-variance groups {mean('frac_reward_zero_std')}."
    )



def transcript(run_dir: Path, agent_id: str, split: str, max_steps: int = 12) -> list[str]:
    path = RunFolder(run_dir).episodes_file(agent_id)
    if not path.exists():
        return []
    episodes = [e for e in read_episodes(path) if e.split == split]
    if not episodes:
        return []
    episode = episodes[0]
    lines = [f"Task `{episode.task}` ({split}), agent `{agent_id}`: "
             f"{'won' if episode.won else 'not won'} in {episode.steps} steps.", "", "```"]
    for turn in (episode.transcript or [])[:max_steps]:
        action = turn.action if turn.action is not None else "(malformed)"
        mark = "" if turn.valid else "   [invalid]"
        lines.append(f"> {action}{mark}")
        lines.append(f"  {turn.observation[:160]}")
    lines += ["```", ""]
    return lines


def _config_lines(config: dict[str, Any], methods: list[str], seeds: list[Any]) -> list[str]:
    """The run's setup, with a line for each kind of training stage that ran and none other."""
    act, il, rl = config["act"], config["il"], config["rl"]
    stages = {s for m in methods for s in method_stages(m)}
    ran = {"act": any(s.startswith("act") for s in stages), "il": "il" in stages,
           "rl": "rl" in stages}
    lines = [
        f"- environment `{config['env']['id']}`, model `{config['model']}`, dtype "
        f"{config['dtype']}; {config['data']['train_tasks']} training tasks, history of "
        f"{config['data']['history_len']} step(s), admissible actions "
        f"{'shown' if config['data']['show_admissible'] else 'hidden'}",
        f"- methods {', '.join(f'`{m}`' for m in methods)}; seeds {', '.join(map(str, seeds))}",
    ]
    stage_lines = {"act": [
        f"- ACT: objective {act.get('objective', 'grpo')}; GRPO "
        f"{act['max_steps'] or str(act.get('epochs')) + ' epoch(s) of'} steps, "
        f"{act['prompts_per_step']} rows x {act['num_generations']} samples "
        f"({act.get('advantage_group', 'prompt')} groups), SFT/DPO batch "
        f"{act.get('batch_size', 'n/a')}, lr {act['learning_rate']}; critic reasoning "
        f"{'on' if config['critic']['reasoning'] else 'off'}"
        + (f"; reward `{act['reward']}`" if act.get("reward") else "")], "il": [
        f"- IL: {il['max_steps'] or str(il['epochs']) + ' epoch(s)'}"
        f"{' steps' if il['max_steps'] else ''}, batch {il['batch_size']}, lr "
        f"{il['learning_rate']}"], "rl": [
        f"- RL: {rl['max_steps'] or str(rl.get('epochs')) + ' epoch(s) of'} GRPO steps, "
        f"{rl['prompts_per_step']} prompts x "
        f"{rl['num_generations']} samples, lr {rl['learning_rate']}; reward expert "
        f"{rl['expert_reward']} / admissible {rl['admissible_reward']} / missing tag "
        f"{rl['malformed_reward']}" + (f" (replaced by `{rl['reward']}`)" if rl.get("reward")
                                        else "")]}
    for kind, text in stage_lines.items():
        if ran[kind]:
            lines += text
    return [*lines, *_early_experience_lines(config, methods)]


def _early_experience_lines(config: dict[str, Any], methods: list[str]) -> list[str]:
    stages = {s for m in methods for s in method_stages(m)}
    lines = []
    for name, what in (("sr", "Early Experience SR (rationale + action"), ("iwm",
                       "Early Experience IWM (next observation after both actions")):
        if name in stages and name in config:
            c = config[name]
            extra = ""
            if name == "sr":
                teacher = config["model"] if c["teacher"] == "base" else c["teacher"]
                extra = (f", teacher `{teacher}`, {c['max_new_tokens']} tokens"
                         f"{', mixed with IL' if c['mix_il'] else ''}")
            lines.append(f"- {what}{extra}): {c['max_steps'] or str(c['epochs']) + ' epoch(s)'}"
                         f"{' steps' if c['max_steps'] else ''}, batch {c['batch_size']}, lr "
                         f"{c['learning_rate']}")
    if any(m.endswith("-cot") for m in methods):
        lines.append(f"- methods ending in `-cot` are rolled out reasoning first, up to "
                     f"{config['rollout'].get('thinking_max_new_tokens')} tokens a turn")
    if any(m.endswith("-direct") for m in methods):
        lines.append("- methods ending in `-direct` are rolled out writing the action at once, "
                     "with no reasoning")
    return lines


def length_table(results: dict[str, Any]) -> list[str]:
    """Per method (first seed that trained it): each stage's steps and epochs, and the total."""
    training = results.get("training", {})
    rows = []
    for method in results["methods"]:
        prefix = method_stages(method)
        if not prefix:
            continue
        for seed in results["seeds"]:
            ids = [RunFolder.checkpoint_id(seed, prefix[: i + 1]) for i in range(len(prefix))]
            found = [training.get(i, {}).get("length") for i in ids]
            if all(found):
                cells = [f"{stage} {f['steps']} steps, {f['epochs']:g} ep."
                         for stage, f in zip(prefix, found, strict=True)]
                total = sum(f["epochs"] for f in found)
                rows.append(f"| {method} | {seed} | {'; '.join(cells)} | {total:g} |")
                break
    if not rows:
        return []
    return ["| method | seed | stages | total epochs |", "|---|---|---|---|", *rows]


def _episodes(results: dict[str, Any]) -> dict[str, dict[str, tuple[int, int]]]:
    """{method: {split: (distinct rollouts, episodes in all)}}: the n beside each success bar.
    Greedy rollouts of the base model serve every seed: they count once."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    ids = results.get("agent_ids", {})
    for method, by_seed in results["agent"].items():
        seen = set()
        for seed, summary in by_seed.items():
            agent = ids.get(method, {}).get(seed, seed)
            if agent in seen:
                continue
            seen.add(agent)
            for split in results["protocol"]["splits"]:
                if split in summary:
                    runs, total = out.setdefault(method, {}).get(split, (0, 0))
                    out[method][split] = (runs + 1, total + summary[split]["episodes"])
    return out


def _chance_reward(config: dict[str, Any]) -> float | None:
    """What a uniformly random well-formed pick earns a GRPO step under the built-in reward."""
    act = config.get("act", {})
    if act.get("reward") or "correct_reward" not in act:
        return None
    k = config.get("critic", {}).get("candidates", 2)
    return (act["correct_reward"] + (k - 1) * act["wrong_reward"]) / k


def write_report(run_dir: Path, results: dict[str, Any]) -> Path:
    """Write `report.md` (and its PNGs) for a run from its results."""
    lines = [f"# actrain `{results['name']}`", "",
             f"Agentic Critical Training ([Liu et al., arXiv 2603.08706]({PAPER})): the model "
             "learns to judge which of two actions is better, rewarded by whether it is right, "
             "then learns to act.", "", "## Verdict", ""]
    lines += [*_verdict_lines(results), "", "## Setup", ""]
    lines += _config_lines(results["config"], results["methods"], results["seeds"])
    lines += ["", "## Evaluation protocol", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in results["protocol"].items()]
    lines += ["", "## Agent results", "", *_agent_lines(run_dir, results)]
    if results["critic"]:
        lines += critic_section(run_dir, results)
    lines += _training_lines(run_dir, results)
    lengths = length_table(results)
    if lengths:
        lines += ["## Stage lengths", "",
                  "Epochs are passes over each stage's own data (ACT: its pairs; IL: the expert "
                  "steps; RL: the expert states; SR: rationales and expert steps; IWM: both "
                  "actions' next observations), counted from the steps the stage ran; a method's "
                  "total is what matched-length controls match.", "", *lengths, ""]
    lines += _example_lines(run_dir, results)
    lines += _data_lines(results.get("data", {}))
    lines += _timing_lines(results.get("stages", {}))
    path = RunFolder(run_dir).report_file
    write_atomic(path, "\n".join(lines))
    return path


def _verdict_lines(results: dict[str, Any]) -> list[str]:
    """The critic headline, each ACT gain, and warnings of answers cut off while thinking."""
    judged = [*headline(results), *verdict(results)]
    if not any("**" in line for line in judged):
        judged.append("- no agent comparison with and without ACT in this run (it needs "
                      "`il` and `act_il`, or `il_rl` and `act_il_rl`, among the methods)")
    return judged + truncation_warnings(results)


def _agent_lines(run_dir: Path, results: dict[str, Any]) -> list[str]:
    """The agent table, the ACT gains and the success plot."""
    if not results["agent"]:
        return ["_no agent evaluation yet_", ""]
    lines = [
        "Success rate and mean episode score on each split; mean ± std over seeds. "
        "An episode scores from 0, as published ScienceWorld evaluations count it (a "
        "failed task reports -100); where that changed the mean, the environment's own "
        "mean follows as raw. "
        "Invalid actions: malformed output or an action outside the admissible list, "
        "as a share of all steps.", "", agent_table(results), "",
    ]
    gains = act_gains(results)
    if gains:
        lines += ["ACT gain (success rate points):", "", *gains, ""]
    if plot_success(agent_values(results, "success_rate"), results["protocol"]["splits"],
                    RunFolder(run_dir).plot("agent_success"), _episodes(results)):
        lines += ["![agent success](plots/agent_success.png)", ""]
    return lines


def _training_lines(run_dir: Path, results: dict[str, Any]) -> list[str]:
    """The training curves plot, with the last GRPO steps of each ACT stage in words."""
    if not plot_training(results["training"], RunFolder(run_dir).plot("training"),
                         _chance_reward(results["config"])):
        return []
    lines = ["## Training curves", "", "![training curves](plots/training.png)", ""]
    for name, run in results["training"].items():
        is_act = run["stage"].startswith("act")
        summary = training_summary(run["log_history"]) if is_act else ""
        if summary:
            lines.append(f"- `{name}`, last 10 GRPO steps: {summary}")
    return [*lines, ""]


def _example_lines(run_dir: Path, results: dict[str, Any]) -> list[str]:
    """One episode of the last method's agent, turn by turn, where its episodes were kept."""
    last = results["methods"][-1]
    if last not in results["agent"]:
        return []
    seed = next(iter(results["agent"][last]))
    agent_id = results.get("agent_ids", {}).get(last, {}).get(seed) or (
        "base" if last == "prompt" else f"seed{seed}-{last.replace('_', '-')}")
    example = transcript(run_dir, agent_id, results["protocol"]["splits"][0])
    return ["## Example episode", "", *example] if example else []


def _data_lines(data: dict[str, Any]) -> list[str]:
    """What the data steps made: trajectories, pairs and rationales."""
    if not (data.get("trajectories") or data.get("pairs")):
        return []
    lines = ["## Data", ""]
    for split, s in data.get("trajectories", {}).items():
        lines.append(trajectory_line(split, s))
    for split, s in data.get("pairs", {}).items():
        lines.append(pair_line(split, s))
    r = data.get("rationales")
    if r:
        lines.append(f"- rationales (self-reflection): {r['outcomes']} branched training "
                     f"pairs, {r['rationales']} usable rationales from `{r['teacher']}`, "
                     f"{r['empty']} empty after cleaning (not trained on)")
    return [*lines, ""]


def _timing_lines(stages: dict[str, Any]) -> list[str]:
    if not stages:
        return []
    total = sum(v.get("seconds", 0) for v in stages.values())
    return ["## Timings", "", "| step | seconds |", "|---|---|",
            *(f"| {k} | {v.get('seconds')} |" for k, v in stages.items()),
            f"| total | {total:.0f} |", ""]
