"""Where numeric noise ends: the one definition matrix, verify/compare and the CLI share.

Measured (README, "fingerprint and verify"): the same model in different CPU environments and
releases differs by 0 to 2.4e-7; half precision moves values by 1e-4 to 1e-2. The noise band sits
well above the first and well below the second.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Where the bands split (identical / noise / drift / broken)."""

    noise_max_abs_diff: float = 1e-5
    """Noise allows at most this absolute difference (widened by float16 storage's stated loss)."""
    noise_min_cosine: float = 0.99999
    """Noise needs every text's cosine at least this."""
    broken_min_cosine: float = 0.99
    """Below this cosine for any text the model is broken (pooling, prompt, Dense, dtype bugs)."""
    broken_min_topk: float = 0.9
    """Below this top-k neighbour agreement the similarity ranking changed: broken."""
    broken_min_spearman: float = 0.98
    """Below this Spearman of pairwise similarities the ranking changed: broken."""
    norm_tolerance: float = 1e-2
    """Relative norm change allowed: bfloat16 moves unit norms by ~3e-3; a lost Normalize by far more."""
    top_k: int = 5
    """k of the neighbour test."""
    moved_cosine: float = 0.9999
    """A text counts as moved (for the diagnosis) below this cosine."""

    def within_noise(self, max_abs_diff: float, min_cosine: float, extra_abs: float = 0.0) -> bool:
        """Whether a difference is numeric noise (``extra_abs``: a storage format's stated rounding)."""
        return min_cosine >= self.noise_min_cosine and max_abs_diff <= self.noise_max_abs_diff + extra_abs


DEFAULT_THRESHOLDS = Thresholds()
"""The defaults every command starts from."""
