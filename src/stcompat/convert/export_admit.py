"""Admission of an exported model: its probe-corpus embeddings against the torch model's, top-10 neighbours kept.

The same code path as ``stcompat verify``: the torch model's fingerprint of the probe corpus (made here,
in memory) is verified against the exported pipeline, and the decision is the top-10 neighbour
agreement against a threshold (default 0.99). ``convert --to`` and ``serve --backend`` both call it,
so the figures an export was written with and the figures a server admits it on are computed alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError
from ..noise import Thresholds
from .export_runtime import AdmissionFigures

if TYPE_CHECKING:
    from ..fingerprint.embed import LoadedModel
    from ..fingerprint.fileformat import Fingerprint
    from ..fingerprint.verdict import Report

DEFAULT_MIN_AGREEMENT = 0.99
ADMISSION_TOP_K = 10
# The sets the band is judged on: every text as encode embeds it, and the texts with their saved prompts.
_JUDGED_SETS = ("main", "prompted")


def check_threshold(value: float) -> float:
    """STC004 unless 0 <= value <= 1."""
    if not 0.0 <= value <= 1.0:
        raise InputError("STC004", f"minimum agreement {value}: use a share between 0 and 1", str(value))
    return value


def reference_fingerprint(torch_model: "LoadedModel") -> "Fingerprint":
    """The torch pipeline's embeddings of the bundled probe corpus (in memory, default encode settings)."""
    from ..fingerprint import embed_corpus, load_corpus
    from ..fingerprint.embed import EncodeSettings

    return embed_corpus(torch_model, load_corpus(None), EncodeSettings(device=torch_model.device), progress=False)


def admit(reference: "Fingerprint", exported: "LoadedModel",
          threshold: float = DEFAULT_MIN_AGREEMENT) -> tuple[AdmissionFigures, "Report"]:
    """Verify ``exported`` against the torch ``reference``; the figures and the decision, and verify's report."""
    from ..fingerprint import verify

    report = verify(exported, reference, thresholds=Thresholds(top_k=ADMISSION_TOP_K), progress=False)
    judged = [m for name, m in report.set_metrics.items() if name in _JUDGED_SETS] or [report.metrics]
    agreement = min(m.topk_agreement for m in judged)
    diffs = [m.max_abs_diff for m in judged if m.max_abs_diff is not None]
    cosines = [m.min_cosine for m in judged if m.min_cosine is not None]
    figures = AdmissionFigures(
        threshold=threshold, admitted=agreement >= threshold, top_k=ADMISSION_TOP_K,
        topk_agreement=round(agreement, 6), max_abs_diff=max(diffs) if diffs else None,
        min_cosine=min(cosines) if cosines else None, mean_cosine=report.metrics.mean_cosine,
        band=report.verdict.value, rows=report.metrics.rows)
    return figures, report
