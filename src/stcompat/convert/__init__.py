"""WRITE new folders from a model, each proven by `check` and by real loads: backport (convert for an
older stack), lock (the requirement ranges a model is known to work with) and stamp (the
``requirements`` block sentence-transformers 6.0+ enforces). The source is never modified.

Nothing heavy is imported here: torch loads only to rewrite weights, and inside the proofs.
"""

from .backport import BackportResult, backport
from .plan import Blocker, Edit, Loss, Plan, plan_backport

__all__ = ["BackportResult", "Blocker", "Edit", "Loss", "Plan", "backport", "plan_backport"]
