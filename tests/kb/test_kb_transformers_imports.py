"""What `import sentence_transformers` takes from transformers submodules, and which transformers lack it.

sentence-transformers 2.4.0 declares transformers>=4.32.0 but imports ``is_nltk_available`` from
``transformers.utils.import_utils``, which transformers defines from 4.34: with 4.32 or 4.33 the import fails
(measured: tests/rules/test_fixes_proven.py loaded it). The two facts come from the release artifacts
(stcompat/kbbuild st_facts ``transformers_imports``, transformers_facts ``lacks_st_imports``).
"""

from __future__ import annotations

import json

from packaging.version import Version

from stcompat.kb.query import DATA, knowledge
from stcompat.kbbuild.transformers_facts import binds, lacks_st_imports

NLTK = "transformers.utils.import_utils:is_nltk_available"


def test_24_imports_a_name_transformers_added_after_its_declared_floor():
    kb = knowledge()
    st = kb.st("2.4.0")
    assert NLTK in st.transformers_imports
    assert NLTK not in kb.st("2.3.1").transformers_imports
    floor = Version(st.requires_dist["transformers"].split(">=")[1].split(",")[0])
    scanned = [Version(r["version"]) for r in kb.document("transformers")["releases"]]
    admitted = [v for v in scanned if v >= floor and v < Version("5")]
    lacking = [v for v in admitted if kb.transformers_lacks(v, (NLTK,))]
    assert lacking and all(v < Version("4.34") for v in lacking)
    assert kb.transformers_lacks(Version("4.34.1"), (NLTK,)) == ()


def test_every_lacking_pair_is_one_some_release_imports():
    st = json.loads((DATA / "sentence_transformers.json").read_text())
    imported = {pair for row in st["releases"] for pair in row["transformers_imports"]}
    for row in json.loads((DATA / "transformers.json").read_text())["releases"]:
        assert set(row["lacks_st_imports"]) <= imported, row["version"]


def test_binds_says_unknown_where_a_module_can_serve_names_it_does_not_bind():
    assert binds("def is_nltk_available():\n    return False\n", "is_nltk_available") is True
    assert binds("try:\n    from .x import A as B\nexcept ImportError:\n    B = None\n", "B") is True
    assert binds("X = 1\n", "Y") is False
    assert binds("from .x import *\n", "Y") is None
    assert binds("def __getattr__(name):\n    return name\n", "Y") is None
    assert binds("import sys\nsys.modules[__name__] = _LazyModule(__name__)\n", "Y") is None


def test_a_submodule_of_that_name_is_no_lack():
    files = {"transformers/utils/__init__.py": "X = 1\n", "transformers/utils/logging.py": ""}
    assert lacks_st_imports(files, ("transformers.utils:logging", "transformers.utils:missing")) == [
        "transformers.utils:missing"]
