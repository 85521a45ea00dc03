"""The backport plan, from the knowledge alone: which edits, which losses, which blockers (no files written).

Targets are the stacks the releases really ran in (tests/fixtures/truth.json): nothing typed here.
"""

from __future__ import annotations

import json

import pytest

from conftest import fixture_path, truth_stacks
from stcompat.convert.defaults import ConstructorDefaults, knowledge_defaults
from stcompat.convert.plan import Action, plan_backport
from stcompat.env.stack import stack_from_target
from stcompat.model.inspect import inspect_model

STACKS = truth_stacks()


def plan(release: str, variant: str, target: str, **kwargs):
    return plan_backport(inspect_model(fixture_path(release, variant)), stack_from_target(STACKS[target]), **kwargs)


def written(p, path: str):
    return next(e.content for e in p.edits if e.action is Action.WRITE_JSON and e.path == path)


def test_54_layout_back_to_222():
    p = plan("6.2.0", "bert_plain", "2.2.2")
    assert p.feasible and not p.losses
    # Each type becomes the path 2.2.2 exports the same class under (the one its own saves write).
    assert [m["type"] for m in written(p, "modules.json")] == [
        "sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize"]
    # max_seq_length comes back from tokenizer_config model_max_length; the 5.4+ keys held their default.
    assert written(p, "sentence_bert_config.json") == {"max_seq_length": 64, "do_lower_case": False}
    # pooling_mode "mean" -> the booleans 2.2.2's Pooling takes (it has no weightedmean/lasttoken).
    assert written(p, "1_Pooling/config.json") == {
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_mean_sqrt_len_tokens": False}
    assert set(p.dropped) == {"sentence_bert_config.json transformer_task", "sentence_bert_config.json modality_config",
                              "sentence_bert_config.json module_output_name", "1_Pooling/config.json include_prompt"}
    # The folder now has 2.2.2's format: the newer-save warning would mislead.
    assert written(p, "config_sentence_transformers.json")["__version__"]["sentence_transformers"] == "2.2.2"


def test_pooling_flags_follow_the_target():
    flags = written(plan("6.2.0", "bert_plain", "3.4.1"), "1_Pooling/config.json")
    assert flags["pooling_mode_lasttoken"] is False and flags["include_prompt"] is True  # 2.3+/2.4+ keys kept


def test_dense_weights_only_where_the_loader_cannot_open_safetensors():
    old = plan("6.2.0", "bert_dense", "2.2.2")
    (move,) = [e for e in old.edits if e.action is Action.WEIGHTS_TO_BIN]
    assert (move.source, move.path) == ("2_Dense/model.safetensors", "2_Dense/pytorch_model.bin")
    assert written(old, "2_Dense/config.json") == {"in_features": 32, "out_features": 16, "bias": True,
                                                   "activation_function": "torch.nn.modules.activation.Tanh"}
    assert not [e for e in plan("6.2.0", "bert_dense", "3.4.1").edits if e.action is Action.WEIGHTS_TO_BIN]


@pytest.mark.parametrize("target,converts", [("2.2.2", True), ("2.7.0", True), ("3.4.1", False), ("5.1.2", False)])
def test_bpe_merges_to_strings_for_tokenizers_before_020(target, converts):
    p = plan("6.2.0", "roberta_plain", target)
    assert [e.path for e in p.edits if e.action is Action.MERGES_TO_STRINGS] == (["tokenizer.json"] if converts else [])


def test_root_static_embedding_moves_into_a_folder_for_3x_4x_only():
    p = plan("6.2.0", "static", "3.4.1")
    assert {(e.source, e.path) for e in p.edits if e.action is Action.MOVE} == {
        ("model.safetensors", "0_StaticEmbedding/model.safetensors"),
        ("tokenizer.json", "0_StaticEmbedding/tokenizer.json")}
    assert written(p, "modules.json")[0] == {"idx": 0, "name": "0", "path": "0_StaticEmbedding",
                                             "type": "sentence_transformers.models.StaticEmbedding"}
    assert not [e for e in plan("6.2.0", "static", "5.1.2").edits if e.action is Action.MOVE]


def test_router_routes_translated_for_5x():
    p = plan("6.2.0", "router", "5.1.2")
    config = written(p, "router_config.json")
    assert set(config["types"].values()) == {"sentence_transformers.models.StaticEmbedding"}
    assert "route_mappings" not in config["parameters"]  # 5.1's Router rejects it; {} is its default


@pytest.mark.parametrize("variant,target,lost", [
    ("bert_prompts", "2.2.2", ["prompts", "default_prompt_name"]),
    ("bert_prompts", "2.7.0", []),
    ("bert_simfn", "2.7.0", ["similarity_fn_name"]),
    ("bert_simfn", "3.4.1", []),
    ("bert_trunc", "5.1.2", ["truncate_dim"]),  # written to the config from 5.4 on only
    ("bert_inclprompt", "2.2.2", ["1_Pooling/config.json include_prompt", "prompts", "default_prompt_name"]),
])
def test_losses_are_the_settings_the_target_does_not_read(variant, target, lost):
    p = plan("6.2.0", variant, target)
    assert p.feasible and [loss.setting for loss in p.losses] == lost
    cst = written(p, "config_sentence_transformers.json")
    assert not {name for name in lost if " " not in name} & set(cst)  # the lost keys leave the output's config


def test_loss_says_how_to_apply_it_by_hand():
    losses = {loss.setting: loss for loss in plan("6.2.0", "bert_prompts", "2.2.2").losses}
    assert losses["prompts"].by_hand == ("prepend the prompt to each text before encoding "
                                         "(document: 'passage: ', query: 'query: ')")
    assert losses["default_prompt_name"].by_hand == ("texts encoded without a prompt got the 'query' prompt: "
                                                     "prepend 'query: ' to them")


@pytest.mark.parametrize("variant,target,code", [
    ("static", "2.2.2", "STC752"),  # StaticEmbedding arrived in 3.2
    ("router", "3.4.1", "STC752"),  # Router in 5.0 (3.x's Asym is another class)
    ("cross_encoder", "5.1.2", "STC751"),
    ("sparse", "5.1.2", "STC751"),
])
def test_blocked_conversions(variant, target, code):
    p = plan("6.2.0", variant, target)
    assert not p.feasible and p.blockers[0].code == code


def test_uncovered_target_is_blocked():
    p = plan_backport(inspect_model(fixture_path("6.2.0", "bert_plain")),
                      stack_from_target("sentence-transformers==1.2.0"))
    assert p.blockers[0].code == "STC750" and "not in the knowledge base" in p.blockers[0].message


def test_a_non_default_key_is_never_dropped(copy_model):
    # Dense reading token_embeddings instead of sentence_embedding: 2.2.2's Dense cannot be told so.
    model = copy_model(fixture_path("6.2.0", "bert_dense"))
    config = json.loads((model / "2_Dense/config.json").read_text())
    config["module_input_name"] = "token_embeddings"
    (model / "2_Dense/config.json").write_text(json.dumps(config))
    p = plan_backport(inspect_model(model), stack_from_target(STACKS["2.2.2"]))
    # Both keys now differ from what 2.2.2's Dense does (its output name no longer equals its input name).
    assert [b.message.split(" has ")[0] for b in p.blockers] == [
        "2_Dense/config.json module_input_name='token_embeddings'",
        "2_Dense/config.json module_output_name='sentence_embedding'"]
    assert {b.code for b in p.blockers} == {"STC753"}


def test_without_known_defaults_nothing_is_dropped():
    p = plan("6.2.0", "bert_plain", "2.2.2", defaults=lambda origin: None)
    assert not p.feasible and {b.code for b in p.blockers} == {"STC753"}
    assert "its default is not known here" in p.blockers[0].message


def test_knowledge_defaults_are_the_newest_releases():
    # (reading them from a release's source: tests/kb/test_kb_init_defaults.py)
    pooling = knowledge_defaults("sentence_transformers.sentence_transformer.modules.pooling:Pooling")
    assert isinstance(pooling, ConstructorDefaults)
    assert pooling.literal["include_prompt"] is True and pooling.literal["pooling_mode"] == "mean"
    assert knowledge_defaults("no.such.module:Thing") is None
