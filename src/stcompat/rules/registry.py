"""Every code stcompat can print, documented in one place (like a linter's rule list).

``STC0xx`` codes come from *reading*: the input itself is missing, malformed or unsafe.
Later layers add their own ranges (STC1xx sentence-transformers, STC2xx transformers,
STC3xx tokenizers, STC4xx weights and torch, STC5xx security). ``docs/rules.md`` is generated
from this module (``python tools/gen_docs.py``); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    """How bad a finding is. ``error`` makes the input unusable (exit status 2 for inspect)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    """The documentation of one code."""

    code: str
    """Stable identifier, never reused for another meaning."""
    name: str
    """Short kebab-case name, e.g. ``malformed-json``."""
    severity: Severity
    """Default severity of findings with this code."""
    what: str
    """What it detects."""
    why: str
    """Why it matters to someone deploying the model."""
    fix: str
    """What to do about it."""


_RULES: tuple[Rule, ...] = (
    Rule(
        "STC001", "path-not-found", Severity.ERROR,
        "A path given on the command line does not exist and is not a repo id in the local Hugging Face cache.",
        "Nothing can be read.",
        "Check the spelling; for a hub model, download it first (the cache is read offline).",
    ),
    Rule(
        "STC002", "no-model-found", Severity.ERROR,
        "A folder holds no model: no modules.json, config_sentence_transformers.json or config.json with "
        "weights, in it or in any folder below it.",
        "A Sentence Transformers loader would fall back to downloading a model of that name, or fail.",
        "Point at the folder that holds modules.json (or a folder of such folders).",
    ),
    Rule(
        "STC003", "not-in-hf-cache", Severity.ERROR,
        "A repo id was given but the local Hugging Face cache has no snapshot of it.",
        "stcompat reads the cache offline and never downloads.",
        "Run `hf download REPO` (or load it once) on a machine with access, or pass --cache-dir.",
    ),
    Rule(
        "STC004", "bad-argument", Severity.ERROR,
        "An option or argument has a value stcompat cannot use.",
        "The command cannot run as asked.",
        "See `stcompat COMMAND --help`.",
    ),
    Rule(
        "STC005", "file-unreadable", Severity.ERROR,
        "A file or folder of the model exists but cannot be read (permissions, I/O error).",
        "Loaders fail on the same file.",
        "Fix the file's permissions or restore it.",
    ),
    Rule(
        "STC010", "malformed-json", Severity.ERROR,
        "A JSON file of the model cannot be parsed, or its top level has the wrong shape "
        "(e.g. modules.json not a list of objects).",
        "Every loader reads these files with json.load; the model cannot load anywhere.",
        "Restore the file from the original save (re-download, or save the model again).",
    ),
    Rule(
        "STC011", "path-escapes-folder", Severity.WARNING,
        "A path in modules.json, or a symlink inside the folder, points outside the model folder.",
        "Loaders follow it and read files the model does not own; stcompat reports it and does not follow it.",
        "Copy the files into the model folder and use relative paths inside it.",
    ),
    Rule(
        "STC012", "module-folder-missing", Severity.WARNING,
        "modules.json lists a module whose folder does not exist.",
        "Modules that store weights or a config (Pooling, Dense, ...) fail to load without it; "
        "Normalize needs no files, so its missing folder is harmless (all-MiniLM-L6-v2 ships that way).",
        "Restore the folder from the original save.",
    ),
    Rule(
        "STC013", "module-config-missing", Severity.WARNING,
        "A module's folder exists but its config file (e.g. 1_Pooling/config.json) is absent.",
        "The module is built with defaults or fails to load, depending on the release.",
        "Restore the config file from the original save.",
    ),
    Rule(
        "STC014", "safetensors-header-invalid", Severity.ERROR,
        "A .safetensors file's header cannot be parsed, or its tensor offsets do not match the file size.",
        "safetensors refuses the file (truncated download or corrupted copy).",
        "Re-download or re-save the weights.",
    ),
    Rule(
        "STC015", "pickle-weights", Severity.INFO,
        "Weights are stored as a pickle (pytorch_model.bin, *.pt, *.pth, *.ckpt).",
        "Loading a pickle runs code; recent transformers refuse torch.load on torch < 2.6 (CVE-2025-32434). "
        "stcompat never unpickles: it only lists the file and its magic bytes.",
        "Convert to safetensors (save the model again with a release that writes model.safetensors).",
    ),
    Rule(
        "STC016", "remote-code", Severity.WARNING,
        "config.json has an auto_map, or modules.json names a module type outside sentence_transformers: "
        "loading runs Python code shipped with the model.",
        "That code is not part of any release stcompat knows, and needs trust_remote_code=True.",
        "Review the code before trusting it; prefer a model whose architecture ships with transformers.",
    ),
    Rule(
        "STC017", "tokenizer-unreadable", Severity.WARNING,
        "tokenizer.json exists but has no recognisable `model` section.",
        "The fast tokenizer cannot be built from it.",
        "Re-save the tokenizer with a current tokenizers release.",
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}


def get_rule(code: str) -> Rule:
    """The rule with this code; ``KeyError`` if there is none."""
    return RULES[code.upper()]
