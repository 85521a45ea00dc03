"""The probe corpus: texts chosen to expose drift, shipped with the package, or the user's own.

Each entry carries tags (``long``, ``zh``, ``code``, ``prompt`` ...) so a diagnosis can say which
kind of text moved, and optionally the name of the prompt the text is meant for (``query``,
``document``): those texts are also embedded with that prompt, so a loader that drops prompts is
caught. Pure stdlib: no numpy here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import CorpusError, InputError

PROBE_CORPUS = "probe_corpus.jsonl"


@dataclass(frozen=True)
class CorpusEntry:
    """One probe text."""

    text: str
    """The text as embedded (no prompt prepended)."""
    tags: tuple[str, ...] = ()
    """Why the text is in the corpus: ``short``, ``long``, ``zh``, ``code``, ``prompt`` ..."""
    prompt: str | None = None
    """Name of the prompt this text is meant for (a key of the model's ``prompts``), if any."""


@dataclass(frozen=True)
class Corpus:
    """An ordered list of probe texts and where they came from."""

    entries: tuple[CorpusEntry, ...]
    """The texts, in the order they are embedded."""
    source: str
    """``builtin`` or the file path given by the user."""

    @property
    def texts(self) -> list[str]:
        """The texts alone, in order."""
        return [e.text for e in self.entries]

    @property
    def sha256(self) -> str:
        """Hash of the canonical JSON of every entry: two corpora with the same hash embed the same."""
        return corpus_hash(self.entries)


def corpus_hash(entries: tuple[CorpusEntry, ...] | list[CorpusEntry]) -> str:
    """sha256 of the entries as canonical JSON lines (text, tags, prompt)."""
    digest = hashlib.sha256()
    for e in entries:
        line = json.dumps({"text": e.text, "tags": list(e.tags), "prompt": e.prompt},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _entry_from_json(obj: object, where: str, source: str, number: int) -> CorpusEntry:
    if isinstance(obj, str):
        return CorpusEntry(obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise CorpusError(f"{where}: expected a JSON object with a string \"text\" (or a JSON string)", source, number)
    tags = obj.get("tags", [])
    prompt = obj.get("prompt")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CorpusError(f"{where}: \"tags\" must be a list of strings", source, number)
    if prompt is not None and not isinstance(prompt, str):
        raise CorpusError(f"{where}: \"prompt\" must be a string (a prompt name such as \"query\")", source, number)
    return CorpusEntry(obj["text"], tuple(tags), prompt or None)


def parse_corpus(content: str, source: str) -> Corpus:
    """Parse a corpus file's text: JSON lines (``.jsonl``-style) or plain text, one text a line.

    The file is read as JSON lines when its first non-blank line starts with ``{`` or ``"``;
    blank lines are skipped in both forms (a text cannot be empty in a plain-text file).
    """
    lines = content.splitlines()
    first = next((ln.lstrip() for ln in lines if ln.strip()), "")
    entries: list[CorpusEntry] = []
    if first.startswith(("{", '"')):
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{source}:{number}: not valid JSON ({exc.msg})", source, number) from None
            entries.append(_entry_from_json(obj, f"{source}:{number}", source, number))
    else:
        entries = [CorpusEntry(line) for line in lines if line.strip()]
    if not entries:
        raise CorpusError(f"{source}: the corpus holds no text", source)
    return Corpus(tuple(entries), source)


def load_corpus(path: str | Path | None = None) -> Corpus:
    """The built-in probe corpus (``path`` None) or the user's file (one text a line, or JSON lines)."""
    if path is None:
        content = resources.files(__package__).joinpath("data", PROBE_CORPUS).read_text(encoding="utf-8")
        corpus = parse_corpus(content, "builtin")
        return corpus
    file = Path(path)
    if not file.is_file():
        raise InputError("STC001", f"{file}: corpus file not found", str(file))
    try:
        content = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorpusError(f"{file}: not UTF-8 text", str(file)) from None
    return parse_corpus(content, str(file))
