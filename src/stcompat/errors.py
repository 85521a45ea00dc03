"""Errors that stop a command. Each carries a stable code (documented in codes.py) and one line.

The CLI prints ``error[CODE]: message`` and exits 2; it never shows a traceback for these. Each
family of codes has its own subclass carrying what a caller needs (like huggingface_hub's
``RepositoryNotFoundError.repo_id``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .findings import Finding


class StcompatError(Exception):
    """Root of every error stcompat raises on purpose.

    Attributes:
        code: stable identifier documented in ``docs/rules.md`` (e.g. ``STC001``).
        message: one line, meant for a human, naming the file or value at fault.
    """

    exit_status = 2

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InputError(StcompatError):
    """The input cannot be used at all (STC001-STC004): a missing path, no model, a bad argument."""

    def __init__(self, code: str, message: str, argument: str | None = None) -> None:
        super().__init__(code, message)
        self.argument = argument
        """The argument or option value at fault, when there is one."""


class KbUpdateError(StcompatError):
    """`stcompat kb update` could not build the facts (STC905): offline with nothing cached, the registry
    unreachable, or an artifact the extractors cannot read. The bundled knowledge and any earlier update
    stay as they were."""

    def __init__(self, message: str, part: str | None = None) -> None:
        super().__init__("STC905", message)
        self.part = part
        """The knowledge part being built (``transformers``...), when the failure is in one."""


class ModelReadError(StcompatError):
    """A file of a model folder cannot be read safely (STC005, STC010-STC017).

    Raised inside the reader and turned into a finding of the manifest: ``inspect`` and ``check``
    report it rather than stop.
    """

    def __init__(self, finding: "Finding") -> None:
        super().__init__(finding.code, finding.message)
        self.finding = finding
        """The finding to report (code, message, file and key)."""
        self.file = finding.file
        """The file at fault, relative to the model folder."""


class FingerprintError(StcompatError):
    """A fingerprint file is unusable (STC601) or of an unsupported format version (STC603)."""

    def __init__(self, code: str, message: str, path: str) -> None:
        super().__init__(code, message)
        self.path = path
        """The fingerprint file."""


class CorpusError(StcompatError):
    """A probe corpus is malformed (STC602)."""

    def __init__(self, message: str, path: str, line: int | None = None) -> None:
        super().__init__("STC602", message)
        self.path = path
        """The corpus file (or ``<texts>`` for texts given in Python)."""
        self.line = line
        """The 1-based line at fault, when one is."""


class CorpusMismatchError(StcompatError):
    """Two fingerprints embed different corpora (STC606)."""

    def __init__(self, message: str, expected_sha256: str, actual_sha256: str) -> None:
        super().__init__("STC606", message)
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


class RuntimeMissingError(StcompatError):
    """fingerprint/verify need a package that is not installed (STC604)."""

    def __init__(self, message: str, package: str) -> None:
        super().__init__("STC604", message)
        self.package = package
        """The missing import (e.g. ``numpy``, ``sentence_transformers``)."""


class ModelLoadError(StcompatError):
    """The installed sentence-transformers raised while loading a model (STC605)."""

    def __init__(self, message: str, model: str, error_type: str) -> None:
        super().__init__("STC605", message)
        self.model = model
        """The model folder."""
        self.error_type = error_type
        """The exception class the loader raised."""


class EnvBuildError(StcompatError):
    """An isolated environment could not be built (STC701); the message ends with uv's stderr tail."""

    def __init__(self, message: str, key: str | None = None, step: str | None = None) -> None:
        super().__init__("STC701", message)
        self.key = key
        """The environment's spec hash."""
        self.step = step
        """The build step that failed (``uv venv``, ``torch install``, ...)."""


class ExecutorError(StcompatError):
    """``matrix --executor ray`` cannot run: Ray missing (STC702), a model too large to send and on no
    shared path (STC703), or no cluster reachable (STC704)."""


class ConvertError(StcompatError):
    """convert, lock or stamp cannot do what was asked (STC750-STC759), or its proof failed.

    A refusal for lost behaviour (STC754) lists the settings; a failed proof (STC756, STC757) carries
    the figures; the output folder is never left behind either way.
    """

    def __init__(self, code: str, message: str, *, model: str | None = None, output: str | None = None,
                 lost: tuple[str, ...] = (), figures: "dict[str, object] | None" = None) -> None:
        super().__init__(code, message)
        self.model = model
        """The model folder converted."""
        self.output = output
        """The output folder asked for (not written, or removed again)."""
        self.lost = lost
        """STC754: the saved settings the target would not apply, one line each."""
        self.figures = figures or {}
        """STC756/STC757: what the proof measured (verdict, max |diff|, min cosine, findings)."""


class ServeRefused(StcompatError):
    """serve's start-up guard refused a model (STC850-STC853): nothing was bound, no traffic accepted."""

    def __init__(self, code: str, message: str, model: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(code, message)
        self.model = model
        """The served name of the model refused."""
        self.reasons = reasons
        """Every line that refused it: the check verdict and findings, the verify band and its causes."""
