"""tokenizers facts for the knowledge base: how each release (de)serializes BPE merges in tokenizer.json.

Read from the sdist of the last patch of every minor release from 0.10 on (pre-releases left out): the sdist
carries the Rust library (``tokenizers-lib/src/...`` up to 0.13, ``tokenizers/src/...`` from 0.14). Nothing is
built, installed or run; the Rust source is read as text.

Why it matters: tokenizers >= 0.20 writes BPE ``merges`` as pairs (``[["a", "b"], ...]``); a tokenizer.json
saved that way fails to load in tokenizers <= 0.19 with serde's
``data did not match any variant of untagged enum ModelWrapper`` (the BPE variant rejects the pairs, so no
variant of the untagged ``ModelWrapper`` enum matches).

Run ``python -m stcompat.kbbuild.tokenizers_facts`` to rewrite ``src/stcompat/kb/data/tokenizers.json``.
"""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from packaging.version import Version

from . import output, pypi

SCHEMA = "stcompat.kb.tokenizers/1"
PACKAGE = "tokenizers"
FIRST_MINOR = Version("0.10")
OUTPUT = output.DATA / "tokenizers.json"

PAIRS_ERROR = "data did not match any variant of untagged enum ModelWrapper"
PAIRS_ERROR_SOURCE = "serde untagged enum error, measured (see research/field.md #11)"

BPE_DIR = "src/models/bpe/"
"""Folder of the BPE model inside the Rust crate (the crate's own folder name changed in 0.14)."""

DESERIALIZE_IMPL = re.compile(r"impl\s*<\s*'de\s*>\s*Deserialize\s*<\s*'de\s*>\s*for\s+BPE\b")
SERIALIZE_IMPL = re.compile(r"impl\s+Serialize\s+for\s+BPE\b")

# Reading. Serde decides what JSON a field accepts from the Rust type it deserializes into. Before 0.20 the
# visitor reads ``merges`` into ``Option<Vec<String>>`` and splits each string on a space, so a 2-element JSON
# array is a type error. From 0.20 it reads into an ``#[serde(untagged)]`` enum with a ``Vec<(String, String)>``
# variant (pairs) next to the legacy ``Vec<String>`` one. So: the deserialization code accepts pairs iff it
# names a Vec of 2-tuples of String. The pattern tolerates whitespace, a path-qualified String
# (``std::string::String``) and a borrowed str, and is matched only in the Deserialize part with comments and
# the test module removed, so a test or a comment mentioning the type does not count.
_STR = r"(?:(?:std\s*::\s*)?(?:string\s*::\s*)?String|&\s*(?:'\w+\s+)?str)"
PAIR_VEC = re.compile(r"Vec\s*<\s*\(\s*" + _STR + r"\s*,\s*" + _STR + r"\s*,?\s*\)\s*>")
LEGACY_VEC = re.compile(r"Vec\s*<\s*" + _STR + r"\s*>")

# Writing. Before 0.20 ``Serialize for BPE`` maps each merge to ``format!("{} {}", a, b)`` (a string); from
# 0.20 to a tuple ``(a.clone(), b.clone())``, which serde writes as a 2-element array. So: a ``format!`` with
# two placeholders separated by one space in the Serialize part means strings; a closure over the merge pair
# returning a parenthesised tuple means pairs. If neither shows, the build stops instead of guessing.
WRITES_STRING = re.compile(r"format!\s*\(\s*\"\{\}\s\{\}\"")
WRITES_TUPLE = re.compile(r"\|\s*\(\s*pair\s*,\s*_\s*\)\s*\|\s*\(")


def strip_rust(source: str) -> str:
    """The source without comments and without the ``#[cfg(test)]`` module (and everything after it)."""
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    source = re.sub(r"//[^\n]*", " ", source)
    cut = source.find("#[cfg(test)]")
    return source if cut < 0 else source[:cut]


def bpe_sections(files: dict[str, str]) -> tuple[str, str, str]:
    """(member, Serialize part, Deserialize part) of the file that implements serde for the BPE model.

    The file is found by content, not name: the ``.rs`` file under ``src/models/bpe/`` holding
    ``impl<'de> Deserialize<'de> for BPE``. The Serialize part runs from ``impl Serialize for BPE`` to the next
    top-level ``impl``; the Deserialize part from ``impl<'de> Deserialize<'de> for BPE`` to the end of the
    (stripped) file, which includes the visitor that actually reads the fields.
    """
    for member, raw in sorted(files.items()):
        text = strip_rust(raw)
        deserialize = DESERIALIZE_IMPL.search(text)
        if deserialize is None:
            continue
        serialize = SERIALIZE_IMPL.search(text)
        if serialize is None:
            raise ValueError(f"{member}: Deserialize for BPE without Serialize for BPE")
        following = re.search(r"^impl\b", text[serialize.end():], flags=re.M)
        end = serialize.end() + following.start() if following else len(text)
        return member, text[serialize.start():end], text[deserialize.start():]
    raise ValueError("no 'impl<'de> Deserialize<'de> for BPE' under " + BPE_DIR)


def merges_facts(files: dict[str, str]) -> dict:
    """reads_merges_pairs / reads_merges_strings / writes_merges_pairs and the file they come from."""
    member, serialize, deserialize = bpe_sections(files)
    writes_string = bool(WRITES_STRING.search(serialize))
    writes_tuple = bool(WRITES_TUPLE.search(serialize))
    if writes_string == writes_tuple:
        raise ValueError(f"{member}: cannot tell how merges are written (string {writes_string}, "
                         f"tuple {writes_tuple})")
    return {
        "reads_merges_pairs": bool(PAIR_VEC.search(deserialize)),
        "reads_merges_strings": bool(LEGACY_VEC.search(deserialize)),
        "writes_merges_pairs": writes_tuple,
        "source": member,
    }


def release_facts(version: str, artifact: pypi.Artifact) -> dict:
    """Facts of one release, from its sdist."""
    path = pypi.download(artifact)
    files = {name: data.decode("utf-8", "replace") for name, data in pypi.members(path, (".rs",))
             if BPE_DIR in name and "/tests/" not in name and "/examples/" not in name
             and "/bindings/" not in name}
    facts = merges_facts(files)
    return {
        "version": version,
        "artifact": artifact.record(),
        "reads_merges_pairs": facts["reads_merges_pairs"],
        "reads_merges_strings": facts["reads_merges_strings"],
        "writes_merges_pairs": facts["writes_merges_pairs"],
        "requires_python": pypi.requires_python(pypi.metadata_text(path)) or artifact.requires_python,
        "source": facts["source"],
    }


def first_patch_with(all_releases: dict[str, list[pypi.Artifact]], found: str | None, key: str) -> str | None:
    """The earliest patch of ``found``'s minor release whose facts have ``key`` true (found is its last patch)."""
    if found is None:
        return None
    for version in pypi.earlier_patches(all_releases, found):
        artifact = pypi.pick(all_releases[version], prefer="sdist")
        if artifact.packagetype == "sdist" and release_facts(version, artifact)[key]:
            return version
    return found


def select(all_releases: dict[str, list[pypi.Artifact]]) -> dict[str, pypi.Artifact]:
    """The releases the knowledge covers (each minor's last patch from FIRST_MINOR) and their sdists."""
    artifacts = {}
    for version, files in pypi.last_patches(all_releases, FIRST_MINOR).items():
        artifact = pypi.pick(files, prefer="sdist")
        if artifact.packagetype != "sdist":
            raise ValueError(f"tokenizers {version}: no sdist")
        artifacts[version] = artifact
    return artifacts


def extract(artifacts: dict[str, pypi.Artifact]) -> list[dict]:
    """One row per release, in the order given (oldest first)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda item: release_facts(*item), artifacts.items()))


def build(until: datetime | None = None) -> dict:
    """The tokenizers part of the knowledge base (releases published up to ``until``)."""
    all_releases = pypi.releases(PACKAGE, until=until)
    return assemble(extract(select(all_releases)), all_releases)


def assemble(rows: list[dict], all_releases: dict[str, list[pypi.Artifact]]) -> dict:
    """The document from its rows (oldest first), with the facts that span releases."""
    reading = [row["version"] for row in rows if row["reads_merges_pairs"]]
    writing = [row["version"] for row in rows if row["writes_merges_pairs"]]
    return {
        "schema": SCHEMA,
        "built": datetime.now(timezone.utc).date().isoformat(),
        "package": PACKAGE,
        "note": ("Only the last patch release of each minor version is scanned (pre-releases left out); "
                 "facts about other patch releases are those of their minor's last patch, except "
                 "first_release_reading_pairs/first_release_writing_pairs, for which the earlier patches of the "
                 "first minor with the fact are read too. reads_merges_pairs: "
                 "BPE deserialization accepts merges as [a, b] pairs; reads_merges_strings: it accepts the "
                 "legacy 'a b' strings; writes_merges_pairs: BPE serialization writes pairs. Decided from the "
                 "Rust source in the sdist (source: the file read), see stcompat/kbbuild/tokenizers_facts.py."),
        "releases": rows,
        "first_release_reading_pairs": first_patch_with(all_releases, reading[0] if reading else None,
                                                        "reads_merges_pairs"),
        "first_release_writing_pairs": first_patch_with(all_releases, writing[0] if writing else None,
                                                        "writes_merges_pairs"),
        "pairs_error": PAIRS_ERROR,
        "pairs_error_source": PAIRS_ERROR_SOURCE,
    }


def main(argv: list[str] | None = None) -> int:
    return output.run(build, OUTPUT.name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
