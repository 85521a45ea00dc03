"""Constructor defaults come from the knowledge base: they agree with the source of the installed release
they were read from, and convert plans the same when no sentence-transformers can be imported or read."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import FIXTURES, truth_stacks
from stcompat.convert.defaults import knowledge_defaults
from stcompat.convert.plan import plan_backport
from stcompat.env.stack import stack_from_target
from stcompat.kb.query import knowledge
from stcompat.kbbuild import st_facts
from stcompat.model.inspect import inspect_model

RELEASE = "6.2.0"  # the installed release (constraints.txt) and the newest the bundled knowledge holds
# The classes a 5.4+ text model is built of: what convert asks defaults for in every fixture it backports.
CORE = ("Transformer", "Pooling", "Normalize", "Dense", "Router")


def _installed_release() -> str:
    installed = version("sentence-transformers")
    if installed != RELEASE:
        pytest.skip(f"the consistency check reads sentence-transformers {RELEASE}; {installed} is installed")
    return installed


def _storable(value) -> bool:
    """A default a JSON config value can equal (what the knowledge records)."""
    try:
        return json.loads(json.dumps(value)) == value and type(json.loads(json.dumps(value))) is type(value)
    except (TypeError, ValueError):
        return False


def test_kb_defaults_equal_the_signatures_of_the_installed_release():
    _installed_release()
    release = knowledge().st(RELEASE)
    checked = set()
    for origin, raw in release.data["loaders"].items():
        module_name, class_name = origin.split(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except ImportError:
            continue  # an optional dependency this venv lacks; CORE below must all be checked
        loader = release.loader(origin)
        expected = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                    if p.default is not inspect.Parameter.empty and _storable(p.default)}
        if loader.init_defaults is None:  # no __init__ in the release: the one it runs is not its own
            assert not getattr(cls.__init__, "__module__", "").startswith("sentence_transformers"), origin
            continue
        recorded = dict(loader.init_defaults)
        # Every recorded default is the real one; a default the source names by a constant
        # (PhraseTokenizer stop_words=ENGLISH_STOP_WORDS) is not a literal there: left out, never assumed held.
        assert recorded == {k: v for k, v in expected.items() if k in recorded}, origin
        if class_name in CORE:
            assert recorded == expected, origin
        assert knowledge_defaults(origin).literal == recorded, origin
        checked.add(class_name)
    assert set(CORE) <= checked


def _installed_source_release() -> st_facts.Release:
    """The installed package's sources, as the extractor reads an artifact's members."""
    spec = importlib.util.find_spec("sentence_transformers")
    package = Path(spec.submodule_search_locations[0])
    sources = {}
    for path in sorted(package.rglob("*.py")):
        dotted = st_facts._dotted(path.relative_to(package.parent).as_posix())
        if dotted:
            sources[dotted] = (path.read_bytes(), path.name == "__init__.py")
    return st_facts.Release(sources)


def test_the_extractor_reads_the_same_defaults_from_the_installed_source():
    # The extractor `stcompat kb update` runs, over the installed 6.2.0 files: the same facts, falls-back
    # included (module_output_name -> module_input_name; no signature shows that).
    _installed_release()
    release = knowledge().st(RELEASE)
    source = _installed_source_release()
    falls_back = {}
    for origin, raw in release.data["loaders"].items():
        fresh = st_facts._loader(source, origin)
        assert (fresh["init_defaults"], fresh["init_falls_back"]) == (raw["init_defaults"], raw["init_falls_back"])
        falls_back.update({f"{origin.split(':')[1]}.{k}": v for k, v in (raw["init_falls_back"] or {}).items()})
    assert falls_back["Normalize.module_output_name"] == "module_input_name"


# A plan run in a fresh interpreter where sentence_transformers cannot be imported (a meta path finder
# refuses it) and none of its installed files can be opened (an audit hook refuses every open under them).
_BLOCKED_PLAN = r'''
import json, os, sys
blocked = sys.argv[1]

def refuse_reads(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path == blocked or path.startswith(blocked + os.sep) or os.path.basename(path).startswith(
                "sentence_transformers-"):  # the package and its dist-info (metadata, RECORD)
            raise PermissionError(f"blocked: {path}")

class RefuseImport:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "sentence_transformers":
            raise ImportError(f"blocked: {name}")
        return None

sys.addaudithook(refuse_reads)
sys.meta_path.insert(0, RefuseImport())
try:
    import sentence_transformers
    raise SystemExit("sentence_transformers imported")
except ImportError:
    pass
try:
    open(blocked + "/__init__.py").close()
    raise SystemExit("the installed source was readable")
except PermissionError:
    pass

from stcompat.convert.plan import plan_backport
from stcompat.env.stack import stack_from_target
from stcompat.model.inspect import inspect_model
out = {}
for folder, target in json.loads(sys.argv[2]):
    p = plan_backport(inspect_model(folder), stack_from_target(target))
    out[f"{folder} {target}"] = [[str(e) for e in p.edits], list(p.dropped), [str(b) for b in p.blockers]]
print(json.dumps(out))
'''


def test_convert_plans_the_same_without_the_installed_sentence_transformers():
    stacks = truth_stacks()
    cases = [(str(FIXTURES / f"st{RELEASE}" / variant), stacks[target])
             for variant in ("bert_plain", "bert_dense", "bert_inclprompt", "router")
             for target in ("2.2.2", "5.1.2")]
    here = {}
    for folder, target in cases:
        p = plan_backport(inspect_model(folder), stack_from_target(target))
        here[f"{folder} {target}"] = [[str(e) for e in p.edits], list(p.dropped), [str(b) for b in p.blockers]]
    assert any(dropped for _, dropped, _ in here.values())  # defaults decide something in these plans
    package = str(Path(importlib.util.find_spec("sentence_transformers").submodule_search_locations[0]))
    run = subprocess.run([sys.executable, "-c", _BLOCKED_PLAN, package, json.dumps(cases)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == here
