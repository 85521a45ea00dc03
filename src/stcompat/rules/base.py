"""What rules look at (Context), and the load stages that order their findings.

Rules produce :class:`~stcompat.findings.Finding` (re-exported here with the vocabulary they use).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..env.stack import Stack
from ..findings import Finding, PredictedError
from ..kb.query import Knowledge, StRelease
from ..model.manifest import ModelManifest
from ..vocab import Effect, ModelKind

__all__ = ["Context", "Effect", "Finding", "PredictedError", "judged"]


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
        return bool(self.st and self.st.model_type_gate and saved_kind not in (None, ModelKind.SENTENCE_TRANSFORMER))


def judged(code: str, effect: Effect, message: str, file: str | None = None, key: str | None = None,
           error: PredictedError | None = None, *, fix: str | None = None, order: tuple[int, ...] = (9,)) -> Finding:
    """A rule's finding: what it does to the verdict first, then the evidence (file, key) and the error."""
    return Finding(code, message, file, key, effect=effect, error=error, fix=fix, order=order)
