"""What rules look at (Context), and the load stages that order their findings.

Rules produce :class:`~stcompat.findings.Finding` (re-exported here with the vocabulary they use).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..env.stack import Stack
from ..findings import Finding, PredictedError
from ..kb.query import Knowledge, StRelease
from ..model.manifest import ModelManifest
from ..vocab import LOADERS, Effect, ModelKind

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
    loader: str = "sentence-transformer"
    """The class the folder is loaded with (vocab.LOADERS): SentenceTransformer, CrossEncoder, SparseEncoder."""

    @property
    def loader_kind(self) -> ModelKind:
        """The loader as a model kind."""
        return LOADERS[self.loader]

    @property
    def skips_modules(self) -> bool:
        """Whether the target's loader class builds this folder without its modules.json and
        config_sentence_transformers.json (the saved modules and settings unused):
        - SentenceTransformer(path), 5.0+: the saved model_type names another kind (loaded as a plain
          transformer, or converted);
        - CrossEncoder(path): up to 5.3 always (AutoModelForSequenceClassification on the folder's root); 5.4+
          unless the folder has a modules.json and its model_type is CrossEncoder;
        - SparseEncoder(path): unless its model_type is SparseEncoder (5.0+ gate; no SparseEncoder before)."""
        if self.st is None:
            return False
        saved_kind = self.manifest.st_config.get("model_type")
        if self.loader == "cross-encoder":
            facts = self.st.cross_encoder
            has_modules_json = any(m.idx is not None for m in self.manifest.modules)
            return not (facts and facts.get("loader") == "modules" and has_modules_json
                        and saved_kind == ModelKind.CROSS_ENCODER)
        if self.loader == "sparse-encoder":
            return saved_kind != ModelKind.SPARSE_ENCODER
        return bool(self.st.model_type_gate and saved_kind not in (None, ModelKind.SENTENCE_TRANSFORMER))

    @property
    def loader_class(self) -> str:
        """The class name of the loader (SentenceTransformer, CrossEncoder, SparseEncoder)."""
        return str(self.loader_kind.value)


def judged(code: str, effect: Effect, message: str, file: str | None = None, key: str | None = None,
           error: PredictedError | None = None, *, fix: str | None = None, order: tuple[int, ...] = (9,)) -> Finding:
    """A rule's finding: what it does to the verdict first, then the evidence (file, key) and the error."""
    return Finding(code, message, file, key, effect=effect, error=error, fix=fix, order=order)
