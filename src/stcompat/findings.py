"""One record for everything stcompat finds: a problem the reader met, or a rule's judgement.

The reader (model/) fills code, message, evidence and severity; the judge (rules/) adds what the
finding does to a verdict, the exception a load would raise and the fix. Both share the catalogue
in codes.py, so a finding always has a documented code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codes import RULES
from .vocab import Effect, Layer, Severity


@dataclass(frozen=True)
class PredictedError:
    """The exception a load would raise, as it would print it."""

    type: str
    """Exception class name, e.g. ``ModuleNotFoundError``."""
    message: str
    """Its message, with the model's own values filled in."""


@dataclass(frozen=True)
class Finding:
    """Something found in one model (and, for check, one target), with the code that documents it."""

    code: str
    """A code of codes.py (e.g. ``STC010``, ``STC101``)."""
    message: str
    """One line for a human."""
    file: str | None = None
    """Evidence: the file at fault, relative to the model folder."""
    key: str | None = None
    """Evidence: the key inside that file."""
    severity: Severity | None = None
    """How bad; None means the catalogue's default for the code (filled in on creation)."""
    effect: Effect = Effect.INFO
    """What it does to a check verdict (reading problems: info until a rule judges them)."""
    error: PredictedError | None = None
    """For ``fails``: what the load would raise."""
    fix: str | None = None
    """The smallest change that removes this finding (a requirement)."""
    order: tuple[int, ...] = field(default=(9,))
    """Where in the load it happens; the earliest ``fails`` is the error a user sees first."""

    def __post_init__(self) -> None:
        if self.severity is None:
            object.__setattr__(self, "severity", RULES[self.code].severity)

    @property
    def name(self) -> str:
        """The code's kebab-case name."""
        return RULES[self.code].name

    @property
    def layer(self) -> Layer:
        """The layer of the stack the code is about."""
        return RULES[self.code].layer
