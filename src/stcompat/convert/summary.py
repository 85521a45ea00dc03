"""What convert prints: the edits, the losses and how to apply them by hand, and the proof's figures.

Text for people (one fact a line, figures included) and JSON for machines. Decides nothing.
"""

from __future__ import annotations

import json
from typing import Any

from .backport import BackportResult


def _figure(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def as_dict(result: BackportResult) -> dict[str, Any]:
    """JSON form (schema ``stcompat.convert/1``)."""
    plan = result.plan
    verify = result.verify
    return {
        "schema": "stcompat.convert/1", "source": result.source, "output": result.output,
        "target": plan.target.description, "release": plan.release,
        "edits": [{"action": str(e.action), "path": e.path, "source": e.source, "why": e.why} for e in plan.edits],
        "dropped_defaults": list(plan.dropped),
        "losses": [{"setting": loss.setting, "value": loss.value, "why": loss.why, "by_hand": loss.by_hand}
                   for loss in plan.losses],
        "check": {"verdict": str(result.check.verdict), "findings": list(result.check.findings)},
        "verify": None if verify is None else {
            "verdict": verify.band, "max_abs_diff": verify.max_abs_diff, "min_cosine": verify.min_cosine,
            "texts": verify.texts, "packages": dict(verify.packages), "reference": dict(verify.reference),
            "seconds": verify.seconds},
        "verify_skipped": result.verify_skipped,
        "loss_cost": None if result.loss_cost is None else {
            "max_abs_diff": result.loss_cost.max_abs_diff, "min_cosine": result.loss_cost.min_cosine,
            "dimensions": list(result.loss_cost.dimensions)},
    }


def render_text(result: BackportResult) -> str:
    """The human summary."""
    plan = result.plan
    lines = [f"wrote {result.output}: {result.source} converted for sentence-transformers {plan.release}"]
    for edit in plan.edits:
        origin = f" (from {edit.source})" if edit.source else ""
        lines.append(f"  {edit.action:<17} {edit.path}{origin}: {edit.why}")
    if plan.dropped:
        lines.append(f"  dropped (held their default): {', '.join(plan.dropped)}")
    for loss in plan.losses:
        lines.append(f"  LOST {loss.setting} = {json.dumps(loss.value)}: {loss.why}")
        lines.append(f"       by hand: {loss.by_hand}")
    if result.loss_cost is not None:
        cost = result.loss_cost
        if cost.max_abs_diff is None:
            lines.append(f"  the loss, measured here: dimension {cost.dimensions[0]} -> {cost.dimensions[1]}")
        else:
            lines.append(f"  the loss, measured here: max |diff| {_figure(cost.max_abs_diff, '.3g')}, "
                         f"min cosine {_figure(cost.min_cosine, '.6f')} vs the model as saved")
    lines.append(f"check against {plan.target.description}: {result.check.verdict}")
    verify = result.verify
    if verify is not None:
        packages = verify.packages
        lines.append(f"verify in a real environment (sentence-transformers {packages.get('sentence-transformers')}, "
                     f"transformers {packages.get('transformers')}, tokenizers {packages.get('tokenizers')}): "
                     f"{verify.band}: max |diff| {_figure(verify.max_abs_diff, '.3g')}, min cosine "
                     f"{_figure(verify.min_cosine, '.15f')} over {verify.texts} texts, against the source embedded "
                     f"here (sentence-transformers {verify.reference.get('sentence-transformers')}"
                     f"{', without the losses' if plan.losses else ''})")
    else:
        lines.append(f"not verified in a real environment: {result.verify_skipped}")
    return "\n".join(lines) + "\n"


def render(result: BackportResult, fmt: str) -> str:
    """``text`` or ``json``."""
    return json.dumps(as_dict(result), indent=1, default=str) + "\n" if fmt == "json" else render_text(result)
