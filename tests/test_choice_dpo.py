"""The packed DPO step computes exactly what TRL's plain DPO step computes, from fewer tokens."""

from __future__ import annotations

import math

import pytest
import torch

from actrain.stages.choice_dpo import _packing, packed_pairs
from actrain.stages.inputs import stage_inputs


def _preference_batch(vocab: int) -> dict[str, torch.Tensor]:
    """Three pairs in TRL's collated layout: [chosen rows; rejected rows], right-padded."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    g = torch.Generator().manual_seed(0)

    def ids(n: int) -> list[int]:
        return torch.randint(5, vocab, (n,), generator=g).tolist()

    examples = [
        {"prompt_ids": ids(9), "chosen_ids": [3, 4], "rejected_ids": [2, 4]},  # one token differs
        {"prompt_ids": ids(4), "chosen_ids": ids(3), "rejected_ids": ids(1)},  # unequal lengths
        {"prompt_ids": ids(6), "chosen_ids": [7, 8, 9], "rejected_ids": [7, 8]},  # a prefix
    ]
    return DataCollatorForPreference(pad_token_id=0)(examples)


def _fused_logps(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    from trl.trainer.utils import add_fused_lm_head

    if not hasattr(model, "_fused"):
        add_fused_lm_head(model)
        model._fused = True
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                labels=labels, use_cache=False, fused_lm_head=True)
    return out.log_probs


@pytest.mark.parametrize("kernel", ["sdpa", "eager"])
def test_packed_pairs_give_the_plain_per_token_logprobs(kernel):
    from actrain.runtime.models import load_model

    model, _ = load_model("tiny-random", dtype="float32")
    model.config._attn_implementation = kernel
    batch = _preference_batch(model.config.vocab_size)
    plain = _fused_logps(model, batch)
    scored = batch["completion_mask"][:, 1:].bool()
    with packed_pairs([model], batch) as window:
        packed = _fused_logps(model, window)
    in_window = window["completion_mask"][:, 1:].bool()
    assert scored.sum() == in_window.sum() == 13
    assert window["input_ids"].shape == (6, 4)  # the longest answer (3 tokens) and one before
    assert torch.allclose(packed[in_window], plain[scored], atol=1e-5)
    # and the gradients of the summed completion log-probabilities agree too
    model.zero_grad()
    (plain * scored).sum().backward()
    expected = model.get_input_embeddings().weight.grad.clone()
    model.zero_grad()
    with packed_pairs([model], batch) as window:
        (_fused_logps(model, window) * in_window).sum().backward()
    assert torch.allclose(model.get_input_embeddings().weight.grad, expected, atol=1e-5)
    assert model.model.forward.__func__ is type(model.model).forward  # restored afterwards


def test_packing_shares_the_prompt_once():
    batch = _preference_batch(100)
    pack = _packing(batch["input_ids"], batch["attention_mask"])
    # pair 0: 9 prompt + "3 4" / "2 4": 9 shared, packed 9 + 2 + 2 = 13 instead of 22 tokens
    assert pack["input_ids"].shape == (3, 13)
    assert pack["positions"][0].tolist() == list(range(11)) + [9, 10]
    # pair 2: the rejected row (6 + "7 8") is a prefix of the chosen one: 9 slots, nothing added
    assert pack["positions"][2].tolist()[:9] == list(range(9))
    assert pack["back"][5].tolist()[:8] == list(range(8))


def test_other_calls_take_the_plain_path():
    from actrain.runtime.models import load_model

    model, _ = load_model("tiny-random", dtype="float32")
    ids = torch.randint(5, 50, (3, 6))
    plain = model(input_ids=ids).logits
    with packed_pairs([model], _preference_batch(50)):  # not the window: the plain forward
        assert torch.allclose(model(input_ids=ids).logits, plain)
    model.config._attn_implementation = "flash_attention_2"  # no custom masks: nothing swapped
    batch = _preference_batch(50)
    with packed_pairs([model], batch) as window:
        assert window is batch


def _dpo_trainer(tmp_path, pack: bool, scope: str, lora: bool = False,
                 critic: tuple[str, ...] = (), pairs: list[dict] | None = None):
    from helpers.pairs import make_pair

    from actrain.config.schema import load_config
    from actrain.runtime.models import load_model
    from actrain.stages.act_supervised import supervised_trainer

    if pairs is None:
        pairs = [make_pair(i, i % 2 == 0, observation=f"You are in room {i}.") for i in range(3)]
    peft = ["peft.enabled=true", "peft.r=4", "peft.alpha=8"] if lora else []
    model, tokenizer = load_model("tiny-random", dtype="float32")
    config = load_config(None, ["model=tiny-random", "dtype=float32", "act.objective=dpo",
                                "act.max_steps=1", f"act.batch_size={2 * len(pairs)}", *peft,
                                f"act.shared_prompt_pass={str(pack).lower()}",
                                f"act.dpo_scope={scope}", *critic])
    trainer = supervised_trainer(model, tokenizer, pairs, stage_inputs(config, "act"),
                                 tmp_path / f"{pack}{scope}", [])
    assert (trainer.pack, trainer.decision_only) == (pack, scope == "decision")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move the policy off its reference, or every loss is log 2
        for param in trainer.model.parameters():
            param.add_(torch.randn(param.shape, generator=g) * 0.5)
    return trainer, next(iter(trainer.get_train_dataloader()))


@pytest.mark.parametrize("scope", ["answer", "decision"])
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_choice_dpo_trainer_packed_loss_equals_the_plain_one(tmp_path, lora, scope):
    """With LoRA the reference is the policy with its adapter off: the same patched backbone."""
    losses = {}
    for pack in (False, True):
        trainer, batch = _dpo_trainer(tmp_path, pack, scope, lora)
        losses[pack] = trainer.compute_loss(trainer.model, batch).item()
    assert abs(losses[True] - math.log(2)) > 1e-4
    assert losses[True] == pytest.approx(losses[False], abs=1e-5)


def test_decision_span_ends_each_pair_where_its_answers_differ():
    from actrain.stages.choice_dpo import decision_span

    batch = _preference_batch(50)
    scored = decision_span(batch)["completion_mask"]
    assert scored[[0, 3]].sum(1).tolist() == [1, 1]  # "3 4" / "2 4": the first token only
    assert scored[[2, 5]].sum(1).tolist() == [3, 2]  # "7 8 9" / "7 8": differ at the third
    assert torch.equal(scored, scored * batch["completion_mask"])  # only ever removes tokens


def test_decision_scope_dpo_is_the_loss_of_the_choice_token_alone(tmp_path):
    """The loss TRL computes equals one written out from the digit's log-probabilities."""
    trainer, batch = _dpo_trainer(tmp_path, pack=True, scope="decision")
    ids, answer = batch["input_ids"], batch["completion_mask"]
    first = answer.argmax(1)  # each row's answer token: "1" or "2"
    half = ids.size(0) // 2
    rows = torch.arange(ids.size(0))
    assert (ids[rows, first][:half] != ids[rows, first][half:]).all()

    def choice_logps(model) -> torch.Tensor:
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=batch["attention_mask"]).logits
        return logits[rows, first - 1].float().log_softmax(-1)[rows, ids[rows, first]]

    policy, reference = choice_logps(trainer.model), choice_logps(trainer.ref_model)
    margin = (policy - reference)[:half] - (policy - reference)[half:]
    expected = -torch.nn.functional.logsigmoid(trainer.args.beta * margin).mean()
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(expected.item(),
                                                                             abs=1e-5)


def _shared_prefix_pairs() -> list[dict]:
    """Pairs whose actions share their first token: "take shirt" against "take sock"."""
    from helpers.pairs import make_pair

    pairs = []
    for i in range(3):
        pair = make_pair(i, i % 2 == 0, observation=f"You are in room {i}.")
        actions = ["take shirt", "take sock"] if pair["expert_first"] else ["take sock",
                                                                            "take shirt"]
        pairs.append({**pair, "alternative": "take sock", "actions": actions,
                      "admissible": ["take sock", "take shirt"]})
    return pairs


def _inputs(critic: tuple[str, ...]):
    from actrain.config.schema import load_config

    return stage_inputs(load_config(None, ["model=tiny-random", "act.objective=dpo", *critic]),
                        "act")


def test_action_format_dpo_prefers_the_expert_action_and_scores_where_the_actions_differ(
        tmp_path):
    """`critic.answer_format: action`: chosen is the expert's action text, rejected the
    alternative's; the decision scope keeps the shared "take" and the first differing token
    (" shirt" / " sock"), not the closing tag after it; packing still gives the plain loss."""
    from actrain.stages.act_supervised import choice_examples
    from actrain.stages.choice_dpo import decision_span

    critic = ("critic.answer_format=action",)
    trainer, batch = _dpo_trainer(tmp_path, True, "decision", critic=critic,
                                  pairs=_shared_prefix_pairs())
    tokenizer = trainer.processing_class
    examples = choice_examples(tokenizer, _shared_prefix_pairs(), _inputs(critic))
    assert examples["chosen"] == ["take shirt</action>"] * 6
    assert examples["rejected"] == ["take sock</action>"] * 6
    assert all(p.endswith("<action>") for p in examples["prompt"])
    ids, answer = batch["input_ids"], batch["completion_mask"]
    # take, " shirt" / " sock", "</", "action", ">", and the end of turn TRL appends
    assert answer.sum(1).tolist() == [6] * 12  # 6 rows (3 pairs, 2 orders), chosen and rejected
    scored = decision_span(batch)["completion_mask"]
    assert scored.sum(1).tolist() == [2] * 12
    kept = [tokenizer.decode(row[mask.bool()]) for row, mask in zip(ids, scored, strict=True)]
    assert kept == ["take shirt"] * 6 + ["take sock"] * 6
    packed = trainer.compute_loss(trainer.model, batch).item()
    plain_trainer, plain_batch = _dpo_trainer(tmp_path, False, "decision", critic=critic,
                                              pairs=_shared_prefix_pairs())
    assert math.isfinite(packed) and abs(packed - math.log(2)) > 1e-4
    assert packed == pytest.approx(
        plain_trainer.compute_loss(plain_trainer.model, plain_batch).item(), abs=1e-5)
