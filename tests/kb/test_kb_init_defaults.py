"""Constructor defaults as knowledge: read from a release's ``__init__`` (st_reader), recorded per loader,
exposed by kb/query.Loader, merged from a `stcompat kb update` cache like every other loader fact."""

from __future__ import annotations

import ast
import json
import shutil

from packaging.version import Version

from stcompat.convert.defaults import ConstructorDefaults, defaults_in
from stcompat.kb import updates
from stcompat.kb.query import DATA, Knowledge, knowledge
from stcompat.kbbuild import st_reader

NORMALIZE = "sentence_transformers.base.modules.normalize:Normalize"
POOLING = "sentence_transformers.sentence_transformer.modules.pooling:Pooling"


def _init(source: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "__init__")


def test_defaults_read_from_source():
    init = _init('''
class Normalize(Module):
    def __init__(self, module_input_name: str = "sentence_embedding", module_output_name: str | None = None,
                 act=nn.Tanh(), sizes=(1, 2), *, flags: dict | None = None, required):
        self.module_output_name = module_output_name if module_output_name is not None else module_input_name
''')
    literal = st_reader.init_defaults(init)
    falls_back = st_reader.init_falls_back(init)
    # nn.Tanh() is no literal and a tuple no JSON value: neither is recorded, so neither is ever "held"
    assert literal == {"module_input_name": "sentence_embedding", "module_output_name": None, "flags": None}
    assert falls_back == {"module_output_name": "module_input_name"}
    found = ConstructorDefaults("x:Normalize", literal, falls_back)
    assert found.holds_default("module_output_name", "sentence_embedding", {})
    assert found.holds_default("module_output_name", "x", {"module_input_name": "x"})
    assert not found.holds_default("module_output_name", "token_embeddings", {})
    assert not found.holds_default("act", "tanh", {})
    assert not found.holds_default("sizes", [1, 2], {})
    assert found.holds_default("flags", {}, {})  # a None default tested for truth treats {} the same


def test_every_loader_records_its_defaults_among_its_parameters():
    for release in knowledge().st_releases:
        poolings = [o for o in release.data["loaders"] if o.endswith(":Pooling")]
        assert poolings and all(release.loader(o).init_defaults for o in poolings), release
        for origin in release.data["loaders"]:
            loader = release.loader(origin)
            if loader.init_defaults is None:
                assert not loader.init_params and loader.init_falls_back is None, (release, origin)
                continue
            assert set(loader.init_defaults) <= set(loader.init_params) - set(loader.init_required), (release, origin)
            assert all(k in loader.init_params and v in loader.init_params
                       for k, v in loader.init_falls_back.items()), (release, origin)


def test_measured_defaults_across_releases():
    kb = knowledge()
    include_prompt = [r for r in kb.st_releases if any("include_prompt" in (r.loader(o).init_defaults or {})
                                                      for o in r.data["loaders"] if o.endswith(":Pooling"))]
    # Pooling has taken include_prompt (default True) since 2.4.0: models/Pooling.py of the 2.4.0 wheel
    # has include_prompt=True, that of 2.3.1 has no include_prompt
    assert str(include_prompt[0].version) == "2.4.0" and include_prompt[-1] is kb.st_releases[-1]
    assert all(r.loader(o).init_defaults["include_prompt"] is True
               for r in include_prompt for o in r.data["loaders"] if o.endswith(":Pooling"))
    assert kb.st_newest().loader(NORMALIZE).init_falls_back == {"module_output_name": "module_input_name"}
    pooling = defaults_in(kb, POOLING)
    assert pooling.literal["pooling_mode"] == "mean" and pooling.literal["include_prompt"] is True


def _cut(tmp_path, keep: int, strip_fields: bool):
    """Bundled data cut ``keep`` releases short, and an update holding the rest (as `kb update` writes it),
    optionally with rows written before the defaults were recorded."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    full = json.loads((DATA / "sentence_transformers.json").read_text(encoding="utf-8"))
    cut = {**full, "releases": full["releases"][:keep]}
    (data / "sentence_transformers.json").write_text(json.dumps(cut), encoding="utf-8")
    rows = json.loads(json.dumps(full["releases"][keep:]))
    if strip_fields:
        for row in rows:
            for loader in row["loaders"].values():
                del loader["init_defaults"], loader["init_falls_back"]
    document = {"schema": updates.SCHEMA, "part": "sentence_transformers", "package": "sentence-transformers",
                "updated": "2026-12-01T00:00:00+00:00", "until": None, "offline": False,
                "source": "https://pypi.org/pypi/sentence-transformers/json", "index_fetched": None,
                "based_on": updates.based_on(cut), "releases": rows, "replaces": [],
                "summary": {"reader_facts": json.loads((DATA / "reader_facts.json").read_text())}}
    (tmp_path / "updates").mkdir()
    (tmp_path / "updates" / "sentence_transformers.json").write_text(json.dumps(document), encoding="utf-8")
    return Knowledge(data=data, updates=tmp_path / "updates")


def test_an_update_carries_the_defaults(tmp_path):
    merged = _cut(tmp_path, keep=len(knowledge().st_releases) - 3, strip_fields=False)
    assert merged.update_problems() == ()
    bundled = knowledge()
    newest = str(bundled.st_newest().version)
    assert merged.updates()["sentence_transformers"].added[-1] == newest
    for origin in bundled.st_newest().data["loaders"]:
        assert merged.st(newest).loader(origin) == bundled.st(newest).loader(origin)
        assert defaults_in(merged, origin) == defaults_in(bundled, origin)


def test_rows_without_the_field_give_way_to_the_release_before(tmp_path):
    # An update cached by an stcompat that did not record defaults: its rows still merge, and the defaults
    # come from the newest release that records them (here the last bundled one).
    merged = _cut(tmp_path, keep=len(knowledge().st_releases) - 1, strip_fields=True)
    assert merged.update_problems() == ()
    newest, before = merged.st_releases[-1], merged.st_releases[-2]
    assert newest.loader(POOLING).init_defaults is None
    assert Version(str(before.version)) < newest.version and before.loader(POOLING).init_defaults is not None
    assert defaults_in(merged, POOLING).literal == dict(before.loader(POOLING).init_defaults)
