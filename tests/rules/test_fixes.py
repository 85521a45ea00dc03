"""rules/fixes.py: the fix moves the fewest packages by the fewest releases, and pip can install it.

Judged on fixtures saved by real releases against the stacks those releases really ran in (truth.json);
tests/rules/test_fixes_proven.py installs and loads the fixes.
"""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conftest import FIXTURES, fixture_path, truth_stacks
from stcompat.checker import check
from stcompat.env.stack import stack_from_target
from stcompat.kb.query import knowledge
from stcompat.model.inspect import inspect_model
from stcompat.rules.engine import check_one, findings_for
from stcompat.rules.fixes import conflicts, find_fix, releases

STACKS = truth_stacks()


def one(path, release: str):
    (result,) = check(path, targets=[STACKS[release]], resolve=False)
    return result


def fixed(result) -> dict[str, Version]:
    """The target's versions with the fix's pins over them."""
    versions = dict(result.target.versions)
    for requirement in result.fix:
        name, version = requirement.split("==")
        versions[name] = Version(version)
    return versions


def test_pairs_merges_under_a_transformers_that_caps_tokenizers_move_both():
    # The known bug: `tokenizers>=0.20` alone is uninstallable where transformers 4.41 requires tokenizers<0.20.
    result = one(fixture_path("3.4.1", "roberta_plain"), "3.0.1")
    kb = knowledge()
    cap = kb.transformers_requires(result.target.get("transformers"))["tokenizers"]
    assert not SpecifierSet(cap).contains(Version(kb.first_tokenizers_reading_pairs()))  # tokenizers alone: no
    versions = fixed(result)
    assert kb.reads_merges_pairs(versions["tokenizers"]) is True
    assert conflicts(kb, versions) == []
    assert {r.split("==")[0] for r in result.fix} == {"tokenizers", "transformers"}  # not sentence-transformers
    again = check_one(result.model, stack_from_target(" ".join(f"{k}=={v}" for k, v in versions.items())))
    assert again.verdict.value == "ok" and again.fix == ()


def test_fewest_packages_first():
    # 6.0.0 fixes the module paths but caps huggingface-hub below 2.0 (the target has 2.4.0): moving
    # sentence-transformers further, to a release that admits the target's hub, moves one package, not two.
    result = one(fixture_path("6.2.0", "bert_plain"), "5.7.0")
    kb = knowledge()
    assert not conflicts(kb, fixed(result))
    assert [r.split("==")[0] for r in result.fix] == ["sentence-transformers"]
    six = kb.st("6.0.0")
    assert "huggingface-hub" in six.requires_dist and conflicts(kb, {**result.target.versions,
                                                                    "sentence-transformers": Version("6.0.0")})


def test_the_older_release_when_both_work():
    # 2.3.0 and 2.3.1 both read the 2.3 pooling keys: the fix names 2.3.0, the smaller move.
    result = one(fixture_path("2.3.1", "bert_plain"), "2.2.2")
    assert result.fix[0] == "sentence-transformers==2.3.0"
    assert conflicts(knowledge(), fixed(result)) == []


def test_a_downgrade_when_it_is_the_smallest_move(minilm):
    broken = "sentence-transformers==2.2.2 transformers==4.30.2 tokenizers==0.13.3 huggingface-hub==0.26.0 torch==2.13.0"
    (result,) = check(minilm, targets=[broken], resolve=False)
    hub = releases(knowledge(), "huggingface-hub")
    below = max(v for v in hub if v < Version("0.26.0"))
    assert result.fix == (f"huggingface-hub=={below}",)


def test_no_version_fix_where_no_release_helps():
    assert one(fixture_path("2.2.2", "bert_plain"), "2.2.2").fix == ()  # nothing to fix
    damaged = one(FIXTURES / "damaged" / "bin_lfs", "6.2.0")  # weights that are Git LFS pointers
    assert damaged.verdict.value == "fails" and not any("==" in r for r in damaged.fix)
    manifest = inspect_model(fixture_path("5.1.2", "sparse"))  # a SparseEncoder folder: no release loads it as saved
    stack = stack_from_target(STACKS["6.2.0"])
    findings = findings_for(manifest, stack)
    assert find_fix(manifest, stack, knowledge(), findings, findings_for) is None


def test_a_transformers_that_lacks_what_the_release_imports_is_passed_over():
    # sentence-transformers 2.4.0 admits transformers>=4.32.0 but imports is_nltk_available, which
    # transformers has from 4.34: the fix pairs it with a transformers that defines it (proven by a real load).
    result = one(fixture_path("2.7.0", "bert_plain"), "2.2.2")
    versions = fixed(result)
    kb = knowledge()
    st = kb.st(versions["sentence-transformers"])
    assert kb.transformers_lacks(versions["transformers"], st.transformers_imports) == ()
    passed_over = [n for n in result.fix_notes if n.startswith("transformers ") and " lacks " in n]
    assert passed_over and "is_nltk_available" in passed_over[0]
