"""Methods as stage lists, shared prefixes and fingerprints (no training here)."""

import pytest

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.run.pipeline import Pipeline
from actrain.stages.inputs import method_stages


@pytest.mark.parametrize(("method", "stages"), [
    ("prompt", ()), ("il", ("il",)), ("act_il_rl", ("act", "il", "rl")),
    ("il_il", ("il", "il")), ("il_rl_rl", ("il", "rl", "rl")),
])
def test_method_names_are_their_stage_lists(method, stages):
    assert method_stages(method) == stages


@pytest.mark.parametrize("method", ["", "sft", "act__il", "act_dpo"])
def test_unknown_methods_are_rejected(method):
    with pytest.raises(ActrainError, match="unknown method"):
        method_stages(method)


def _pipeline(tmp_path, *overrides, methods=None, seeds=None):
    config = load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random", "dtype=float32",
                                *overrides])
    return Pipeline(config, methods, seeds)


def test_run_mode_adds_the_untrained_model_as_reference(tmp_path):
    assert _pipeline(tmp_path, "pipeline=act_il").methods == ["prompt", "act_il"]
    assert _pipeline(tmp_path, "pipeline=prompt").methods == ["prompt"]


def test_methods_sharing_a_prefix_share_its_checkpoint_and_key(tmp_path):
    p = _pipeline(tmp_path, methods=["il", "il_rl", "act_il"], seeds=[0, 1])
    assert p.layout.checkpoint(0, ("il",)).endswith("seed0/il/checkpoint")
    assert p.layout.stage_dir(0, ("il", "rl")).parent == p.layout.stage_dir(0, ("il",)).parent
    again = _pipeline(tmp_path, methods=["il"], seeds=[0])  # another process, the same key
    assert p.keys.checkpoint_key(0, ("il",)) == again.keys.checkpoint_key(0, ("il",))
    assert p.keys.checkpoint_key(0, ("il",)) != p.keys.checkpoint_key(1, ("il",))  # seeds differ
    assert p.keys.checkpoint_key(0, ("il",)) != p.keys.checkpoint_key(0, ("act", "il"))  # parents differ
    assert p.layout.checkpoint(0, ()) == "tiny-random"


def test_a_stage_key_depends_on_its_own_config_and_upstream_only(tmp_path):
    base = _pipeline(tmp_path)
    rl_changed = _pipeline(tmp_path, "rl.learning_rate=3e-5")
    il_changed = _pipeline(tmp_path, "il.epochs=3")
    assert base.keys.checkpoint_key(0, ("il",)) == rl_changed.keys.checkpoint_key(0, ("il",))
    assert base.keys.checkpoint_key(0, ("il", "rl")) != rl_changed.keys.checkpoint_key(0, ("il", "rl"))
    assert base.keys.checkpoint_key(0, ("il", "rl")) != il_changed.keys.checkpoint_key(0, ("il", "rl"))
    assert base.keys.checkpoint_key(0, ("act",)) == il_changed.keys.checkpoint_key(0, ("act",))


def test_a_stage_key_covers_what_the_stage_receives_and_nothing_else():
    from actrain.run.keys import RunKeys

    def key(stage: str, *overrides: str) -> str:
        return RunKeys(load_config(None, list(overrides))).checkpoint_key(0, (stage,))

    for stage, override in [("act", "critic.show_context=true"), ("act", "eval.batch_size=3"),
                            ("act", "dtype=bfloat16"), ("il", "data.history_len=3"),
                            ("il", "peft.enabled=true"), ("rl", "data.actor_reasoning=true"),
                            ("rl", "rl.beta=0.1")]:
        assert key(stage) != key(stage, override), override
    for stage, override in [("act", "device=cuda:0"), ("act", "act.micro_batch=2"),
                            ("il", "il.micro_batch=4"), ("il", "critic.show_context=true"),
                            ("act", "il.epochs=3"), ("rl", "rollout.episodes=3")]:
        assert key(stage) == key(stage, override), override


def test_dpo_scope_is_in_the_dpo_stage_key_only(tmp_path):
    base, answer = _pipeline(tmp_path), _pipeline(tmp_path, "act.dpo_scope=answer")
    for stage in ("act-grpo", "act-sft"):
        assert base.keys.checkpoint_key(0, (stage,)) == answer.keys.checkpoint_key(0, (stage,))
    assert base.keys.checkpoint_key(0, ("act-dpo",)) != answer.keys.checkpoint_key(0, ("act-dpo",))


def test_greedy_base_rollouts_are_evaluated_once_for_all_seeds(tmp_path):
    greedy = _pipeline(tmp_path, seeds=[0, 1])
    assert greedy.layout.agent_id(0, ()) == greedy.layout.agent_id(1, ()) == "base"
    sampled = _pipeline(tmp_path, "rollout.temperature=0.7", seeds=[0, 1])
    assert sampled.layout.agent_id(0, ()) != sampled.layout.agent_id(1, ())
    assert greedy.layout.agent_id(1, ("act", "il")) == "seed1-act-il"


def test_until_must_name_a_stage(tmp_path):
    with pytest.raises(ActrainError, match="--until must be one of"):
        _pipeline(tmp_path).run(until="eval_act")


def test_oracle_source_collects_off_path_states_and_changes_the_data_key(tmp_path):
    pytest.importorskip("textworld", reason="TextWorld not installed: pip install 'actrain[textworld]'")
    from actrain.data.trajectories import iter_states, load_trajectories

    expert = _pipeline(tmp_path, "env.id=textworld/cooking")
    oracle = _pipeline(tmp_path, "env.id=textworld/cooking", "data.source=oracle",
                       "data.explore=0.5", "data.train_tasks=3", "data.eval_tasks=1",
                       "name=oracle")
    assert expert.keys.data_key("collect") != oracle.keys.data_key("collect")
    oracle.collect()
    records = load_trajectories(oracle.layout.train_traj)
    steps = [s for r in records for s in r["steps"]]
    assert len(records) == 3 and any(s["off_path"] for s in steps)
    # The history shows the action actually taken, the label is the oracle's.
    explored = next((r, i) for r in records for i, s in enumerate(r["steps"][:-1])
                    if s["action"] != s["expert_action"])
    record, index = explored
    state = list(iter_states(record, history_len=1))[index + 1][1]
    assert state.history[-1][1] == record["steps"][index]["action"]


def test_unknown_data_source_is_one_clear_error(tmp_path):
    with pytest.raises(ActrainError, match="data.source must be"):
        _pipeline(tmp_path, "data.source=dreams").collect()


def test_what_enters_the_data_and_agent_keys(tmp_path):
    base = _pipeline(tmp_path, "data.source=oracle")
    reseeded = _pipeline(tmp_path, "data.source=oracle", "seed=1")
    assert base.keys.data_key("collect") != reseeded.keys.data_key("collect")  # exploring draws on the seed
    expert, expert_reseeded = _pipeline(tmp_path), _pipeline(tmp_path, "seed=1")
    assert expert.keys.data_key("collect") == expert_reseeded.keys.data_key("collect")
    agent = _pipeline(tmp_path).keys.agent_key(0, ("il",))
    assert _pipeline(tmp_path, "rollout.step_workers=4").keys.agent_key(0, ("il",)) == agent
    assert _pipeline(tmp_path, "rollout.max_steps=7").keys.agent_key(0, ("il",)) != agent


def test_act_objective_stages_name_their_objective():
    from actrain.config.schema import load_config
    from actrain.stages.inputs import critic_prefix, method_stages, stage_config

    assert method_stages("act-sft_il") == ("act-sft", "il")
    config = load_config(None, ["act.objective=grpo"])
    assert stage_config(config, "act-dpo").objective == "dpo"
    assert stage_config(config, "act").objective == "grpo"
    assert stage_config(config, "act-sft").learning_rate == config.act.learning_rate
    assert stage_config(config, "il") is config.il
    assert critic_prefix(("act-sft", "il")) == ("act-sft",)
    assert critic_prefix(("il", "il")) is None


def test_a_stage_builds_its_trl_config_before_its_model_loads(tmp_path, monkeypatch):
    """Under DeepSpeed ZeRO-3 the config must exist while from_pretrained runs."""
    import actrain.stages.trl_args as trl_args_module

    order: list[str] = []
    monkeypatch.setattr(trl_args_module, "trl_args", lambda *a: order.append("trl config"))

    def load(*_, **kwargs):
        order.append(f"model (for training: {kwargs.get('for_training')})")
        raise RuntimeError("stop here")

    pipeline = _pipeline(tmp_path, "pipeline=il")
    monkeypatch.setattr(pipeline, "load_model", load)
    with pytest.raises(RuntimeError, match="stop here"):
        pipeline.train(0, ("il",))
    assert order == ["trl config", "model (for training: True)"]


@pytest.mark.parametrize("override, message", [
    ("env.id=twx/no-such-game", "unknown environment 'twx/no-such-game'"),
    ("model=no-such-org/no-such-model", "neither an embedded id .*the hub is offline"),
    ("act.grpo={no_such_option: 1}", "act.grpo: .*keys go to trl.GRPOConfig"),
    ("il.sft={no_such_option: 1}", "il.sft: .*keys go to trl.SFTConfig"),
])
def test_a_run_that_would_fail_is_refused_before_it_writes_anything(tmp_path, override, message):
    pipeline = _pipeline(tmp_path, "pipeline=act_il", "env.id=twx/twc", override)
    with pytest.raises(ActrainError, match=message):
        pipeline.run()
    assert not pipeline.layout.dir.exists()  # no config.json describing a run that never ran


def test_keys_change_with_the_prompt_format_the_version_and_sampling_batches(tmp_path,
                                                                            monkeypatch):
    import actrain
    import actrain.prompts

    before = _pipeline(tmp_path)
    keys = (before.keys.data_key("pairs"), before.keys.checkpoint_key(0, ("il",)))
    monkeypatch.setattr(actrain.prompts, "PROMPT_FORMAT", actrain.prompts.PROMPT_FORMAT + 1)
    reformatted = _pipeline(tmp_path)
    assert reformatted.keys.data_key("pairs") != keys[0]
    assert reformatted.keys.checkpoint_key(0, ("il",)) != keys[1]
    monkeypatch.undo()
    monkeypatch.setattr(actrain, "__version__", "9.9.9")
    assert _pipeline(tmp_path).keys.checkpoint_key(0, ("il",)) != keys[1]
    monkeypatch.undo()
    sampled = [_pipeline(tmp_path, "alternatives.mode=sample", f"eval.batch_size={b}")
               for b in (8, 16)]
    assert sampled[0].keys.data_key("pairs") != sampled[1].keys.data_key("pairs")
    scored = [_pipeline(tmp_path, "alternatives.mode=admissible", f"eval.batch_size={b}")
              for b in (8, 16)]
    assert scored[0].keys.data_key("pairs") == scored[1].keys.data_key("pairs")  # not batched by it
