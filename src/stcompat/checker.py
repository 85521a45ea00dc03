"""The public `check` verb: read the models, read or resolve the targets, judge every pair.

The orchestrator sits above the pipeline: model/ reads, env/ reads and resolves, rules/ judges
(pure: manifest x stack x knowledge -> findings). Nothing below imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .env.installed import current_stack, interpreter_stack
from .env.resolve import complete, needs_resolving
from .env.stack import Stack, stack_from_requirements_file, stack_from_target
from .model.inspect import inspect_models
from .rules.engine import CheckResult, check_one

__all__ = ["CheckResult", "build_targets", "check"]


def build_targets(targets: Sequence[str] = (), requirements: Sequence[str] = (), pythons: Sequence[str] = (),
                  resolve: bool = True) -> list[Stack]:
    """Target stacks from --target texts, -r files and --python interpreters (default: this environment)."""
    stacks = [stack_from_target(t) for t in targets]
    stacks += [stack_from_requirements_file(r) for r in requirements]
    stacks += [interpreter_stack(p) for p in pythons]
    if not stacks:
        return [current_stack()]
    if resolve:
        # An installed environment is what it is; only specified targets are completed.
        stacks = [complete(s) if needs_resolving(s) and not s.source.installed else s for s in stacks]
    return stacks


def check(*paths: str | Path, targets: Sequence[str] = (), requirements: Sequence[str] = (),
          pythons: Sequence[str] = (), resolve: bool = True, cache_dir: str | None = None,
          loader: str | None = None) -> list[CheckResult]:
    """Predict, for every model the paths name and every target, whether it loads and behaves as saved.

    With no target, the current environment is judged (read from metadata; nothing imported).
    ``loader``: the class the models are loaded with, "sentence-transformer", "cross-encoder" or
    "sparse-encoder"; by default each folder's own kind (a CrossEncoder folder with ``CrossEncoder(path)``).
    """
    manifests = inspect_models(*paths, cache_dir=cache_dir)
    stacks = build_targets(targets, requirements, pythons, resolve)
    return [check_one(manifest, stack, loader=loader) for manifest in manifests for stack in stacks]
