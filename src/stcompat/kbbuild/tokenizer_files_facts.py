"""What a transformers release does for a model folder with no tokenizer file at all, read from its source.

``AutoTokenizer.from_pretrained(folder)`` (what the Transformer module calls) behaves in one of three ways:

- ``raises``: ``PreTrainedTokenizerBase.from_pretrained`` checks that at least one vocabulary file resolved
  (``if all(... is None ...)``) and raises OSError "Can't load tokenizer for ..." (4.x up to 4.5x);
- ``converts``: without that check the fast tokenizer's ``__init__`` falls back to converting a slow one
  (``convert_slow_tokenizer(self, from_tiktoken=True)``), whose protobuf import raises ImportError with
  ``PROTOBUF_IMPORT_ERROR`` unless sentencepiece or protobuf is installed (4.57);
- ``default_vocab``: the model type's tokenizer builds a default vocabulary when given none
  (``if vocab is None: vocab = {...}``, 5.x): it loads, and every word maps to the unknown token.

Called by transformers_facts.release_facts with the wheel's path.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from packaging.version import Version

from . import pypi
from .source_text import raised_message

BASE = "transformers/tokenization_utils_base.py"
FAST = "transformers/tokenization_utils_fast.py"
CONVERT = "transformers/convert_slow_tokenizer.py"
IMPORT_UTILS = "transformers/utils/import_utils.py"
AUTO = "transformers/models/auto/tokenization_auto.py"
_MODEL_TOKENIZER = re.compile(r"^transformers/models/([^/]+)/tokenization_\1\.py$")


def _unresolved_check(tree: ast.Module) -> dict[str, str] | None:
    """The OSError raised under ``if all(...)`` when no vocabulary file resolved."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.If) and "all(" in ast.unparse(node.test) and "is None" in ast.unparse(node.test)):
            continue
        for inner in node.body:
            found = raised_message(inner) if isinstance(inner, ast.Raise) else None
            if found and found[1] and found[1].startswith("Can't load tokenizer for"):
                # EnvironmentError is OSError's alias: the load reports OSError.
                exception = "OSError" if found[0].rsplit(".", 1)[-1] == "EnvironmentError" else found[0]
                return {"exception": exception, "message": found[1]}
    return None


def _converts_from_tiktoken(fast: ast.Module) -> bool:
    return any(isinstance(n, ast.Call) and ast.unparse(n.func) == "convert_slow_tokenizer"
               and any(k.arg == "from_tiktoken" for k in n.keywords) for n in ast.walk(fast))


def _protobuf_error(convert: ast.Module, import_utils: ast.Module) -> str | None:
    """PROTOBUF_IMPORT_ERROR formatted as import_protobuf raises it when called without a name ("")."""
    raises = any(isinstance(n, ast.FunctionDef) and n.name == "import_protobuf"
                 and "ImportError(PROTOBUF_IMPORT_ERROR.format" in ast.unparse(n) for n in ast.walk(convert))
    if not raises:
        return None
    for node in import_utils.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PROTOBUF_IMPORT_ERROR"
                                                 for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value.replace("{0}", "")
    return None


def _builds_default_vocab(tree: ast.Module) -> bool:
    """A tokenizer class whose ``__init__`` assigns a dict to ``vocab`` under ``if vocab is None``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for test in ast.walk(node):
                if (isinstance(test, ast.If) and ast.unparse(test.test) == "vocab is None"
                        and any(isinstance(a, ast.Assign) and isinstance(a.value, ast.Dict)
                                and any(isinstance(t, ast.Name) and t.id == "vocab" for t in a.targets)
                                for a in test.body)):
                    return True
    return False


def _fast_tokenizers(tree: ast.Module) -> dict[str, str]:
    """model_type -> the fast tokenizer class AutoTokenizer picks for it (TOKENIZER_MAPPING_NAMES: the
    second element of each pair, ``"XFast" if is_tokenizers_available() else None`` read as "XFast")."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TOKENIZER_MAPPING_NAMES"
                                                     for t in node.targets)):
            continue
        for pair in ast.walk(node.value):
            if not (isinstance(pair, ast.Tuple) and len(pair.elts) == 2 and isinstance(pair.elts[0], ast.Constant)
                    and isinstance(pair.elts[0].value, str) and isinstance(pair.elts[1], ast.Tuple)
                    and len(pair.elts[1].elts) == 2):
                continue
            fast = pair.elts[1].elts[1]
            fast = fast.body if isinstance(fast, ast.IfExp) else fast
            if isinstance(fast, ast.Constant) and isinstance(fast.value, str):
                found[pair.elts[0].value] = fast.value
    return found


def fast_tokenizer_spans(rows: list[dict]) -> dict[str, list[list[str]]]:
    """Pops each row's ``fast_tokenizers`` (model_type -> class) into document-level spans, model_type ->
    [[class, first release, last release], ...] over consecutive rows that have the mapping (the full
    table in every row would be most of the file)."""
    spans: dict[str, list[list[str]]] = {}
    previous = None
    for row in rows:
        facts = dict(row.get("missing_tokenizer_files") or {})
        table = facts.pop("fast_tokenizers", None) or {}
        if table:
            row["missing_tokenizer_files"] = facts  # a copy: the caller's row objects are not changed
        for model_type, cls in sorted(table.items()):
            runs = spans.setdefault(model_type, [])
            if runs and runs[-1][0] == cls and runs[-1][2] == previous:
                runs[-1][2] = row["version"]
            else:
                runs.append([cls, row["version"], row["version"]])
        previous = row["version"]
    return spans


def with_fast_tokenizers(document: dict, row: dict) -> dict:
    """``row`` with its ``fast_tokenizers`` table rebuilt from the document's spans (what ``extract`` gave
    before ``fast_tokenizer_spans`` moved it out), for an update that assembles the bundled rows again."""
    facts = row.get("missing_tokenizer_files")
    if not facts or facts.get("behaviour") != "raises":
        return row
    version = Version(row["version"])
    table = {model_type: cls for model_type, runs in document.get("fast_tokenizer_spans", {}).items()
             for cls, first, last in runs if Version(first) <= version <= Version(last)}
    return {**row, "missing_tokenizer_files": {**facts, "fast_tokenizers": table}}


def missing_tokenizer_files(wheel: Path) -> dict[str, Any] | None:
    """The release's behaviour for a folder without tokenizer files (see the module docstring); None when
    the sources show none of the three."""
    trees: dict[str, ast.Module] = {}
    default_vocab: list[str] = []
    for name, data in pypi.members(wheel, (".py",)):
        if name in (BASE, FAST, CONVERT, IMPORT_UTILS, AUTO):
            trees[name] = ast.parse(data)
        elif (match := _MODEL_TOKENIZER.match(name)) and b"vocab is None" in data:
            if _builds_default_vocab(ast.parse(data)):
                default_vocab.append(match.group(1))
    if BASE not in trees:
        return None
    check = _unresolved_check(trees[BASE])
    if check:
        # The message names the class AutoTokenizer chose: the model type's fast tokenizer.
        return {"behaviour": "raises", **check, "fast_tokenizers": _fast_tokenizers(trees.get(AUTO, ast.Module([], [])))}
    if FAST in trees and _converts_from_tiktoken(trees[FAST]) and CONVERT in trees and IMPORT_UTILS in trees:
        message = _protobuf_error(trees[CONVERT], trees[IMPORT_UTILS])
        if message:
            return {"behaviour": "converts", "exception": "ImportError", "message": message,
                    "unless_installed": ["sentencepiece", "protobuf"]}
    if default_vocab:
        return {"behaviour": "default_vocab", "model_types": sorted(default_vocab)}
    return None
