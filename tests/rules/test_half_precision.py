"""STC203: a half-precision checkpoint is computed in half precision by a transformers that loads the
checkpoint's own dtype (the kb's ``default_dtype``, extracted from from_pretrained's source).

The fixtures st*/bert_fp16 and st*/bert_bf16 are real saves of models cast to float16 / bfloat16; their
truth cells (compared with a float32 load) say which releases really move the embeddings.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from packaging.version import Version

from conftest import FIXTURES, fixture_entries, truth_stacks
from stcompat.checker import check
from stcompat.kb.query import knowledge
from stcompat.kbbuild.transformers_facts import default_dtype

HALF = [e for e in fixture_entries() if e["variant"] in ("bert_fp16", "bert_bf16")]
STACKS = truth_stacks()


def _transformers(stack: str) -> Version:
    return Version(next(p.split("==")[1] for p in stack.split() if p.startswith("transformers==")))


def _findings(model: Path, stack: str):
    (result,) = check(model, targets=[stack], resolve=False)
    return result, [f for f in result.findings if f.code == "STC203"]


def test_the_default_dtype_switches_once_in_the_scanned_releases():
    kb = knowledge()
    rows = [(Version(r["version"]), r.get("default_dtype")) for r in kb._transformers["releases"]]
    assert all("default_dtype" in r for r in kb._transformers["releases"])
    switches = [v for (_, before), (v, after) in zip(rows, rows[1:]) if before != after]
    assert len(switches) == 1 and str(switches[0]) == kb.first_transformers_with_auto_dtype()
    assert {d for _, d in rows} == {None, "auto"}


def test_the_extractor_reads_the_default_from_from_pretrained():
    # The two shapes of the code: a default set when the caller passes none, and none set (torch's default).
    sets_auto = ast.parse("class M:\n    def from_pretrained(cls, path, *a, **kw):\n"
                          "        dtype = kw.pop('dtype', None)\n        if dtype is None:\n"
                          "            dtype = 'auto'\n")
    leaves_it = ast.parse("class M:\n    def from_pretrained(cls, path, *a, **kw):\n"
                          "        torch_dtype = kw.pop('torch_dtype', None)\n        if torch_dtype is None:\n"
                          "            logger.info('float32')\n"
                          "def elsewhere(dtype=None):\n    if dtype is None:\n        dtype = 'auto'\n")
    assert default_dtype(sets_auto) == "auto"
    assert default_dtype(leaves_it) is None


@pytest.mark.parametrize("entry", HALF, ids=lambda e: e["path"])
def test_a_half_checkpoint_is_degraded_exactly_where_the_dtype_is_auto(entry):
    kb = knowledge()
    model = FIXTURES / entry["path"]
    config = json.loads((model / "config.json").read_text())
    key = "dtype" if "dtype" in config else "torch_dtype"
    # As saved means as the saving transformers computed: one that loads the checkpoint's dtype too used it so.
    saver_auto = kb.default_dtype(Version(config["transformers_version"])) == "auto"
    seen = set()
    for release, stack in STACKS.items():
        result, found = _findings(model, stack)
        auto = kb.default_dtype(_transformers(stack)) == "auto"
        seen.add(auto)
        if auto and not saver_auto:
            (finding,) = found
            assert (finding.file, finding.key) == ("config.json", key)
            assert config[key] in finding.message and "torch.float32" in finding.message
            bound = ".".join(kb.first_transformers_with_auto_dtype().split(".")[:2])
            assert finding.fix == f"transformers<{bound}"
        elif saver_auto and not auto:
            # the other direction: a checkpoint-dtype save computed in float32 by an older transformers
            (finding,) = found
            assert (finding.file, finding.key) == ("config.json", key)
            assert "computes in float32" in finding.message and f"torch.{config[key]}" in finding.message
            bound = ".".join(kb.first_transformers_with_auto_dtype().split(".")[:2])
            assert finding.fix == f"transformers>={bound}"
        else:
            assert not found, release
    assert seen == {True, False}  # both sides of the boundary were checked


def test_both_kinds_of_saver_are_covered():
    kb = knowledge()
    savers = {kb.default_dtype(Version(json.loads((FIXTURES / e["path"] / "config.json").read_text())
                                       ["transformers_version"])) for e in HALF}
    assert savers == {"float32", "auto"}


def _newest_auto_stack() -> str:
    kb = knowledge()
    return max((s for s in STACKS.values() if kb.default_dtype(_transformers(s)) == "auto"), key=_transformers)


def test_without_a_declared_dtype_the_stored_dtype_decides(copy_model):
    model = copy_model(FIXTURES / "st2.7.0" / "bert_bf16")
    config = json.loads((model / "config.json").read_text())
    config.pop("torch_dtype", None)
    config.pop("dtype", None)
    (model / "config.json").write_text(json.dumps(config))
    _, (finding,) = _findings(model, _newest_auto_stack())
    assert finding.file == "model.safetensors" and finding.key is None and "BF16" in finding.message


def test_a_declared_float32_wins_over_half_weights(copy_model):
    # transformers reads config.json's dtype first: float32 declared means float32 compute.
    model = copy_model(FIXTURES / "st2.7.0" / "bert_fp16")
    config = json.loads((model / "config.json").read_text())
    config["torch_dtype"] = "float32"
    (model / "config.json").write_text(json.dumps(config))
    _, found = _findings(model, _newest_auto_stack())
    assert not found


def test_a_float32_model_is_never_flagged():
    for entry in fixture_entries():
        if entry["variant"] in ("bert_plain", "roberta_plain"):
            _, found = _findings(FIXTURES / entry["path"], _newest_auto_stack())
            assert not found, entry["path"]
