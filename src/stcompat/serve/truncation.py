"""The OpenAI ``dimensions`` parameter: when it is honoured, and what it does to a vector.

Cutting a vector short is only meaningful for a model trained for it (Matryoshka representation
learning): for any other model the first k values are not an embedding, and a server that quietly
truncates gives worse search results with no error. So ``dimensions`` is honoured only when there is
evidence: a saved ``truncate_dim`` (the model's author truncates it), a model card naming a
Matryoshka loss (sentence-transformers writes the training losses into README.md), or the operator's
explicit ``--matryoshka NAME``. Everything else gets a 400.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..model.folder import ModelFolder, Target

if TYPE_CHECKING:
    import numpy as np

# The losses sentence-transformers ships for Matryoshka training, as its generated model cards name them.
_MATRYOSHKA = re.compile(rb"\bMatryoshka(?:2d)?Loss\b")
_CARD_BYTES = 1 << 20  # a model card is text; reading more than 1 MiB of it would be a wasted effort


def _card_names_matryoshka(target: Target) -> bool:
    folder = ModelFolder.open(target.root, target.boundary, target.blobs)
    if folder.regular_file("README.md") is None:
        return False
    try:
        head = folder.read_bytes("README.md", 0, _CARD_BYTES)
    except OSError:
        return False
    return _MATRYOSHKA.search(head) is not None


def truncation_evidence(target: Target, saved_truncate_dim: int | None, operator_says: bool) -> str | None:
    """Why ``dimensions`` may be honoured for this model, or None when it must be refused."""
    if operator_says:
        return "the operator vouches for it (--matryoshka)"
    if saved_truncate_dim is not None:
        return f"the model saves truncate_dim={saved_truncate_dim}"
    if _card_names_matryoshka(target):
        return "the model card names a Matryoshka loss"
    return None


def truncate(values: "np.ndarray", dimensions: int, normalizes: bool) -> "np.ndarray":
    """The first ``dimensions`` values of each row; renormalised to unit length when the model's own
    pipeline normalises (so a truncated vector keeps the property the full one had, as
    ``encode(truncate_dim=d, normalize_embeddings=True)`` gives)."""
    import numpy as np

    cut = np.ascontiguousarray(values[:, :dimensions], dtype=np.float32)
    if normalizes:
        norms = np.linalg.norm(cut, axis=1, keepdims=True)
        cut = cut / np.maximum(norms, np.float32(1e-12))  # torch's F.normalize uses the same floor
    return cut.astype(np.float32, copy=False)
