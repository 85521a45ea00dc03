"""What rules produce (Finding) and what they look at (Context)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..env.stack import Stack
from ..kb.query import Knowledge, StRelease
from ..model.manifest import ModelManifest
from .registry import RULES


class Effect(str, Enum):
    """What a finding does to the verdict."""

    FAILS = "fails"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"
    INFO = "info"


@dataclass(frozen=True)
class PredictedError:
    """The exception the target would raise, as it would print it."""

    type: str
    """Exception class name, e.g. ``ModuleNotFoundError``."""
    message: str
    """Its message, with the model's own values filled in."""


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one model in one target."""

    code: str
    """Rule code (rules/registry.py)."""
    effect: Effect
    """fails / degraded / unknown / info."""
    message: str
    """One line for a human."""
    file: str | None = None
    """Evidence: the file (relative to the model folder)."""
    key: str | None = None
    """Evidence: the key in that file."""
    error: PredictedError | None = None
    """For ``fails``: what the load would raise."""
    fix: str | None = None
    """The smallest change that removes this finding (a requirement, or a command)."""
    order: tuple[int, ...] = field(default=(9,))
    """Where in the load this happens; the smallest ``fails`` is the error the user sees first."""

    @property
    def name(self) -> str:
        """The rule's kebab-case name."""
        return RULES[self.code].name


# Load stages, in the order sentence-transformers runs them (for ordering predicted errors).
STAGE_ENV = 0          # importing sentence_transformers itself
STAGE_REQUIREMENTS = 1  # 6.0+: check_version_requirements before any module
STAGE_MODULES = 2       # then each module in modules.json order
# Within one module:
SUB_IMPORT, SUB_CONSTRUCT, SUB_TF_CONFIG, SUB_TF_WEIGHTS, SUB_TOKENIZER, SUB_MODULE_WEIGHTS = range(6)


@dataclass(frozen=True)
class Context:
    """Everything a rule may look at."""

    manifest: ModelManifest
    """The model, as read by inspect."""
    stack: Stack
    """The target environment."""
    kb: Knowledge
    """The knowledge base."""
    st: StRelease | None
    """The target's sentence-transformers release in the knowledge base (None: not covered)."""

    @property
    def loaded_as_other_kind(self) -> bool:
        """Whether the target's SentenceTransformer(path) skips modules.json and the saved settings because
        the folder's saved model_type is another kind (CrossEncoder, SparseEncoder; 5.0+ gate)."""
        saved_kind = self.manifest.st_config.get("model_type")
        return bool(self.st and self.st.model_type_gate and saved_kind not in (None, "SentenceTransformer"))
