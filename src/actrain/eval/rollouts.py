"""Agent evaluation: batched rollouts of a checkpoint in the environment.

Many episodes run at once, each on its own environment instance. At every turn the agent prompts
of all running episodes go through the model in one batched `generate`, each completion is parsed
for its `<action>` tag, and each environment takes one step. A finished episode frees its
environment for the next task in the queue, so the batch stays full.

Bookkeeping per episode: won, score, steps, invalid actions (malformed output, an action outside
the admissible list, or one the environment raised on or, where it says so in `info["rejected"]`,
refused; each still costs a step, none crashes the rollout). An episode that reaches `max_steps`
unfinished is a failure, not an error.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.envs.base import TextEnv
from actrain.eval.agent_settings import AgentSettings, agent_settings, protocol
from actrain.eval.next_action import (
    next_action_accuracy,
    next_action_by_split,
    next_action_records,
)
from actrain.prompts import (
    normalise_action,
    opens_thinking,
    parse_action,
    truncated_thinking,
)
from actrain.records import EpisodeRecord, Trajectory, Turn
from actrain.runtime.distributed import main_first, map_sharded
from actrain.runtime.generation import generate

log = logging.getLogger("actrain")


@dataclass
class Episode:
    task: str
    description: str
    observation: str
    admissible: list[str]
    history: list[tuple[str, str]] = field(default_factory=list)
    transcript: list[Turn] = field(default_factory=list)
    invalid_actions: int = 0
    malformed: int = 0
    won: bool = False
    score: float = 0.0
    score_raw: float = 0.0  # the environment's own, where it reports one below 0
    done: bool = False

    @property
    def steps(self) -> int:
        return len(self.transcript)

    def record(self, hit_max_steps: bool) -> EpisodeRecord:
        return EpisodeRecord(task=self.task, won=self.won, score=self.score,
                             score_raw=self.score_raw, steps=self.steps,
                             invalid_actions=self.invalid_actions, malformed=self.malformed,
                             hit_max_steps=hit_max_steps, transcript=list(self.transcript))


def _prompt(tokenizer: PreTrainedTokenizerBase, episode: Episode, s: AgentSettings) -> str:
    """The agent's prompt at the episode's current state, through its view (as in training)."""
    state = s.view.state(episode.description, episode.history, episode.observation,
                         episode.admissible)
    return s.view.prompt(tokenizer, state)


def _start(env: TextEnv, task: str) -> Episode:
    result = env.reset(task)
    return Episode(task, result.info.get("task_description", ""), result.observation,
                   env.admissible_actions())


def _step(env: TextEnv, episode: Episode, completion: str, s: AgentSettings,
          think_open: bool = False) -> None:
    """Apply one model completion to an episode; never raises on a bad action.

    `think_open`: the turn's prompt opened the thinking block (`prompts.opens_thinking`); the
    transcript keeps it then, so the turn is read again (`summarise`) as it was parsed here.
    """
    action = parse_action(completion, prefilled=not s.view.reasoning, think_open=think_open)
    if action is None:
        episode.malformed += 1
        valid, observation = False, "(no action: the output had no single action tag)"
        episode.history.append((episode.observation, completion.strip()[:80]))
    else:
        valid, observation = _act(env, episode, action)
    if not valid:
        episode.invalid_actions += 1
    episode.transcript.append(Turn(completion=completion, action=action,
                                   think_open=True if think_open else None, valid=valid,
                                   observation=observation))


def _act(env: TextEnv, episode: Episode, action: str) -> tuple[bool, str]:
    """Take `action` in the episode's environment; (whether it was valid, what the game said).
    An action outside the admissible list, refused (`info["rejected"]`) or raised on is
    invalid."""
    allowed = {normalise_action(a) for a in episode.admissible}
    valid = not allowed or normalise_action(action) in allowed
    try:
        result = env.step(action)
    except Exception as exc:  # an adapter that raises on a rejected action costs a step
        log.warning("%s: the environment raised on %r: %s", episode.task, action, exc)
        return False, f"(the environment rejected the action: {exc})"
    episode.history.append((episode.observation, action))
    episode.observation = result.observation
    episode.admissible = env.admissible_actions()
    episode.won = bool(result.info.get("won", False))
    episode.score = float(result.info.get("score", 0.0))
    episode.score_raw = float(result.info.get("score_raw", episode.score))
    episode.done = bool(result.done)
    if "rejected" in result.info:
        valid = not result.info["rejected"]
    return valid, result.observation


def run_episodes(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    make_env: Callable[[], TextEnv],
    tasks: Sequence[str],
    settings: AgentSettings,
    parallel_envs: int = 0,
    desc: str = "rollouts",
    step_workers: int = 1,
) -> tuple[list[EpisodeRecord], dict[str, float]]:
    """Play every task to the end or to `max_steps`; returns (episode records, timing stats).

    `parallel_envs` environments are in play at once (0 = `batch_size`); with 1, episodes run
    one at a time, which is the baseline the rollout benchmark compares against. `step_workers`
    threads apply a turn's actions to their environments concurrently, which pays for slow,
    JVM-backed environments (each episode owns its environment); environments that are not
    `thread_safe` are stepped one after the other.
    """
    slots = max(1, min(parallel_envs or settings.rollout.batch_size, len(tasks)))
    free: list[TextEnv] = []
    pending = deque(enumerate(tasks))
    active: list[tuple[int, TextEnv, Episode]] = []
    records: list[EpisodeRecord | None] = [None] * len(tasks)
    stats = {"turns": 0, "prompt_tokens": 0, "generated_tokens": 0, "generate_seconds": 0.0,
             "env_seconds": 0.0}
    bar = tqdm(total=len(tasks), desc=desc, unit="episode", leave=False)
    pool = None
    try:
        free += [make_env() for _ in range(slots)]  # inside try: a failed start closes the rest
        if step_workers > 1 and all(env.thread_safe for env in free):
            pool = ThreadPoolExecutor(step_workers)
        while pending or active:
            while pending and free:
                index, task = pending.popleft()
                env = free.pop()
                active.append((index, env, _start(env, task)))
            prompts = [_prompt(tokenizer, ep, settings) for _, _, ep in active]
            texts = _agent_turn(model, tokenizer, prompts, settings, stats)
            start = time.perf_counter()
            _apply_turn(active, texts, prompts, settings, pool)
            still: list[tuple[int, TextEnv, Episode]] = []
            for index, env, episode in active:
                if episode.done or episode.steps >= settings.step_limit(episode.task):
                    records[index] = episode.record(hit_max_steps=not episode.done)
                    free.append(env)
                    bar.update(1)
                else:
                    still.append((index, env, episode))
            active = still
            stats["env_seconds"] += time.perf_counter() - start
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
        for env in free + [env for _, env, _ in active]:
            env.close()
    return [r for r in records if r is not None], stats


def _agent_turn(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
                settings: AgentSettings, stats: dict[str, Any]) -> list[str]:
    """The agent's completion for every running episode's prompt, in one batched `generate`;
    the turn's time and tokens are added to `stats`."""
    decoding = settings.rollout
    start = time.perf_counter()
    completions = generate(
        model, tokenizer, prompts, max_new_tokens=decoding.max_new_tokens,
        temperature=decoding.temperature, top_p=decoding.top_p, top_k=decoding.top_k,
        batch_size=decoding.batch_size, stop=["</action>"], autocast=settings.dtype,
        seed=settings.seed + stats["turns"] if decoding.temperature > 0 else None,
        progress=False, common_prefix=settings.prefix_cache,
    )
    stats["generate_seconds"] += time.perf_counter() - start
    stats["turns"] += 1
    texts = [completion for (completion,) in completions]
    stats["prompt_tokens"] += _count_tokens(tokenizer, prompts, settings.prefix_cache,
                                            special=False)
    stats["generated_tokens"] += _count_tokens(tokenizer, texts, settings.prefix_cache,
                                               special=True) + len(texts)
    return texts


def _apply_turn(active: Sequence[tuple[int, TextEnv, Episode]], texts: Sequence[str],
                prompts: Sequence[str], settings: AgentSettings,
                pool: ThreadPoolExecutor | None) -> None:
    """Each running episode takes the action of its completion, on `pool`'s threads where
    there is one."""
    jobs = [(env, ep, text, settings, opens_thinking(prompt))
            for (_, env, ep), text, prompt in zip(active, texts, prompts, strict=True)]
    if pool is not None and len(jobs) > 1:
        list(pool.map(lambda job: _step(*job), jobs))
    else:
        for job in jobs:
            _step(*job)


def _count_tokens(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], batched: bool,
                  special: bool) -> int:
    """Tokens of `texts` (for the throughput stats), in one tokenizer call when `batched`."""
    if not texts:
        return 0
    if batched:
        return sum(map(len, tokenizer(list(texts), add_special_tokens=special)["input_ids"]))
    return sum(len(tokenizer(t, add_special_tokens=special)["input_ids"]) for t in texts)


def summarise(episodes: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Success rate, mean score, steps and invalid-action rate over a split's episodes.

    An episode's score counts from 0, as published ScienceWorld evaluations average it: a failed
    task reports -100, which would pull the mean below what any progress earned.
    `mean_score_raw` keeps the environment's own mean (records without `score_raw` give their
    `score`)."""
    episodes = EpisodeRecord.coerce_all(episodes)
    n = len(episodes)
    if not n:
        return {"episodes": 0}
    steps = sum(e.steps for e in episodes)
    return {
        "episodes": n,
        "success_rate": sum(e.won for e in episodes) / n,
        "mean_score": statistics.fmean(max(0.0, e.score or 0.0) for e in episodes),
        "mean_score_raw": statistics.fmean(
            (e.score_raw if e.score_raw is not None else e.score) or 0.0 for e in episodes),
        "mean_steps": steps / n,
        "invalid_action_rate": sum(e.invalid_actions or 0 for e in episodes) / steps
        if steps else 0,
        "malformed_rate": sum(e.malformed or 0 for e in episodes) / steps if steps else 0,
        # turns cut off while thinking (counted in malformed too): raise rollout.max_new_tokens
        "truncated_rate": sum(truncated_thinking(t.completion or "", bool(t.think_open))
                              for e in episodes for t in e.transcript or ()) / steps
        if steps else 0,
        "hit_max_steps": sum(bool(e.hit_max_steps) for e in episodes),
    }


def evaluate_agent(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: Any,  # RunConfig
    seed: int,
    thinking: bool | None = None,
    heldout: Sequence[Trajectory] | Mapping[str, Sequence[Trajectory]] = (),
) -> tuple[dict[str, Any], list[EpisodeRecord]]:
    """Roll the agent out on the first `rollout.episodes` tasks of each split in the config;
    `thinking` True prompts it to reason before its action, False to act at once, whatever
    `data.actor_reasoning` says (None: as it says).
    With `heldout` expert trajectories, also its next-action accuracy on their states; given as
    {split: trajectories}, per split (`next_action_by_split`)."""
    from actrain.envs import from_config

    r = config.rollout
    settings = agent_settings(config, seed, thinking)

    def make_env() -> TextEnv:
        return from_config(config.env)

    summary: dict[str, Any] = {"protocol": protocol(config, thinking)}
    episodes: list[EpisodeRecord] = []
    with make_env() as env:
        task_lists = {split: env.tasks(split)[: r.episodes] for split in r.splits}
        everything = [task for tasks in task_lists.values() for task in tasks]
        main_first(lambda: env.prepare(everything))  # generated games land in a shared cache
    for split, tasks in task_lists.items():
        stats: dict[str, float] = {}

        def play(mine: list[str], split: str = split,
                 stats: dict[str, float] = stats) -> list[EpisodeRecord]:
            played, stats_here = run_episodes(model, tokenizer, make_env, mine, settings,
                                              r.parallel_envs, desc=f"rollouts ({split})",
                                              step_workers=r.step_workers)
            stats.update(stats_here)
            return played

        # split over processes when launched as several
        records = [record.replace(split=split) for record in map_sharded(play, tasks)]
        episodes += records
        summary[split] = {**summarise(records),
                          "generate_seconds": stats.get("generate_seconds", 0.0)}
    if isinstance(heldout, Mapping):
        records = next_action_records(model, tokenizer, heldout, settings)
        summary["next_action"] = next_action_by_split(records, list(heldout))
    elif heldout:
        summary["next_action"] = next_action_accuracy(model, tokenizer, heldout, settings)
    return summary, episodes
