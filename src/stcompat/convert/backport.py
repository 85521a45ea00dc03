"""Write a backported copy of a model folder, prove it, and only then put it where it was asked for.

Order of work: read the source and plan (plan.py) -> refuse early (blockers, losses, an existing
output) -> copy the source into a hidden folder beside the output -> apply the plan's edits there
-> write README.md (what changed, what was lost, how to apply it by hand) -> `check` it against the
target -> verify it in a real environment of the target -> rename it into place. The source is only
ever read; any failure or interruption removes the hidden folder, so a partial output never exists.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..env.stack import Stack
from ..errors import ConvertError, InputError
from ..model.folder import ModelFolder, targets_for
from ..model.inspect import read_model
from ..model.manifest import ModelManifest
from ..vocab import Verdict
from .plan import Action, Edit, Plan, plan_backport
from .prove import (
    CheckProof, LossCost, VerifyProof, check_output, reference_fingerprint, target_env, verify_many, verify_unavailable,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class BackportResult:
    """What convert did."""

    source: str
    """The model folder converted (unchanged), as given."""
    output: str
    """The folder written, as given."""
    plan: Plan
    """The edits and losses."""
    check: CheckProof
    """`check` of the output against the target."""
    verify: VerifyProof | None
    """The real load in the target, or None when it was not run."""
    verify_skipped: str | None
    """Why verify did not run (with --no-verify, or when the target cannot be built from here)."""
    loss_cost: LossCost | None
    """What the allowed losses change, measured here."""


def _build_target(target: str | Stack) -> Stack:
    if isinstance(target, Stack):
        return target
    from ..checker import build_targets

    return build_targets([target])[0]


def _one_model(model: str | Path) -> tuple[ModelFolder, ModelManifest]:
    targets = targets_for(str(model))
    if len(targets) != 1:
        raise InputError("STC004", f"{model} holds {len(targets)} models; convert one model folder at a time",
                         str(model))
    target = targets[0]
    return ModelFolder.open(target.root, target.boundary, target.blobs), read_model(target)


def _copy_tree(folder: ModelFolder, manifest: ModelManifest, into: Path) -> None:
    """Copy every regular file inside the source's boundary (links are followed there, never out)."""
    for rel in folder.walk_files():
        destination = into / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder.locate(rel), destination)  # a copy, never a link: the source stays untouched
    for module in manifest.modules:  # empty module folders (e.g. 2_Normalize/) are part of the layout
        if module.path and module.folder_exists:
            (into / module.path).mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _merges_to_strings(path: Path) -> None:
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    merges = (data.get("model") or {}).get("merges")
    if not isinstance(merges, list) or not merges or not isinstance(merges[0], list):
        return
    if any(" " in part for pair in merges for part in pair):
        raise ConvertError("STC753", f"{path.name}: a BPE merge contains a space, which the string format "
                                     "cannot express (tokenizers < 0.20 cannot read this tokenizer)")
    data["model"]["merges"] = [" ".join(pair) for pair in merges]
    _write_json(path, data)


def _weights_to_bin(source: Path, destination: Path) -> None:
    try:
        import torch
        from safetensors.torch import load_file
    except ImportError as exc:
        raise ConvertError("STC758", f"writing {destination.name} needs {exc.name or 'torch'}, which is not "
                                     "installed here (pip install 'stcompat[runtime]')") from None
    partial = destination.with_name(destination.name + ".partial")
    torch.save(load_file(str(source)), partial)
    os.replace(partial, destination)
    source.unlink()


def apply_edit(root: Path, edit: Edit) -> None:
    """Carry out one edit inside ``root`` (the hidden copy)."""
    path = root / edit.path
    if edit.action is Action.MOVE:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / (edit.source or ""), path)
    elif edit.action is Action.WEIGHTS_TO_BIN:
        _weights_to_bin(root / (edit.source or ""), path)
    elif edit.action is Action.MERGES_TO_STRINGS:
        _merges_to_strings(path)
    elif edit.action is Action.WRITE_JSON:
        _write_json(path, edit.content)


def readme(plan: Plan, manifest: ModelManifest, card: str | None) -> str:
    """The output's README.md: where it came from, what changed, what was lost and how to apply it by hand."""
    from .. import __version__

    saved = (manifest.saved_with or {}).get("sentence_transformers", "an unknown release")
    lines = [f"# Converted for sentence-transformers {plan.release}", "",
             f"Converted by stcompat {__version__} from a folder saved by sentence-transformers {saved} "
             f"(`{plan.source}`), for the target `{plan.target.description}`.", "", "## What changed", ""]
    lines += [f"- `{e.path}`: {e.action}{f' from `{e.source}`' if e.source else ''} ({e.why})" for e in plan.edits]
    lines += [f"- removed (held its default): `{d}`" for d in plan.dropped]
    if plan.losses:
        lines += ["", "## Lost: apply by hand", "",
                  f"sentence-transformers {plan.release} does not apply these saved settings; the converted model "
                  "returns embeddings without them.", ""]
        lines += [f"- `{loss.setting}` = `{json.dumps(loss.value)}`: {loss.why}. By hand: {loss.by_hand}."
                  for loss in plan.losses]
    text = "\n".join(lines) + "\n"
    if not card:
        return text
    # A model card's YAML front matter must stay first: the notes go right after it.
    if card.startswith("---\n") and "\n---\n" in card[4:]:
        end = card.index("\n---\n", 4) + len("\n---\n")
        return card[:end] + "\n" + text + "\n" + card[end:]
    return text + "\n" + card


def _staging(output: Path) -> tuple[Path, Path]:
    """(a scratch folder beside ``output``, the path inside it where the new folder is built): on the same
    filesystem, so the finished folder is moved into place in one rename."""
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.stcompat-", dir=output.parent))
    return work, work / output.name


def _source_and_output(model: str | Path, output: str | Path) -> tuple[ModelFolder, ModelManifest, Path]:
    """The one model folder to read and the absolute output path, refused when one contains the other
    (a conversion never writes into its source, nor replaces a folder that holds it)."""
    output = Path(os.path.abspath(output))
    folder, manifest = _one_model(model)
    source = Path(manifest.path)
    if output == source or source in output.parents or output in source.parents:
        raise InputError("STC004", f"-o {output} overlaps the model folder {source}", str(output))
    return folder, manifest, output


def _claim(output: Path, force: bool) -> None:
    if output.exists() or output.is_symlink():
        if not force:
            raise ConvertError("STC755", f"{output} exists; choose another -o or pass --force", output=str(output))
        if not output.is_dir() or output.is_symlink():
            raise ConvertError("STC755", f"{output} exists and is not a folder; not replaced", output=str(output))


def _put_in_place(built: Path, output: Path) -> None:
    """Rename the finished folder into place; an older output (--force) is swapped out, then removed."""
    old = None
    if output.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
        os.replace(output, old / output.name)
    os.replace(built, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def backport(model: str | Path, output: str | Path, target: str | Stack, *, allow_loss: bool = False,
             force: bool = False, verify: bool | None = None, log: Log | None = None) -> BackportResult:
    """Convert ``model`` into ``output`` for ``target`` (a --target text or a Stack) and prove it.

    ``verify``: True runs the real load (a failure to build the environment fails the conversion);
    None runs it when it can be run from here and says why not otherwise; False skips it.
    Raises ConvertError (STC75x) without leaving ``output`` behind.
    """
    say = log or (lambda _: None)
    asked = str(output)
    folder, manifest, output = _source_and_output(model, output)
    source = Path(manifest.path)
    _claim(output, force)
    stack = _build_target(target)
    plan = plan_backport(manifest, stack)
    if plan.blockers:
        first = plan.blockers[0]
        more = f" (and {len(plan.blockers) - 1} more: {'; '.join(b.message for b in plan.blockers[1:])})" \
            if len(plan.blockers) > 1 else ""
        raise ConvertError(first.code, first.message + more, model=str(source), output=str(output))
    if plan.losses and not allow_loss:
        lost = tuple(f"{loss.setting}={json.dumps(loss.value)}" for loss in plan.losses)
        raise ConvertError("STC754", f"sentence-transformers {plan.release} would not apply: {', '.join(lost)}; "
                                     "pass --allow-loss to convert anyway (the loss is written into the output)",
                           model=str(source), output=str(output), lost=lost)
    skipped = None
    if verify is None:
        skipped = verify_unavailable(stack)
    elif verify is False:
        skipped = "--no-verify"
    elif verify_unavailable(stack):
        raise ConvertError("STC757", f"cannot verify: {verify_unavailable(stack)}", model=str(source),
                           output=str(output))
    work, built = _staging(output)
    try:
        say(f"copying {source} and applying {len(plan.edits)} edits")
        _copy_tree(folder, manifest, built)
        for edit in plan.edits:
            apply_edit(built, edit)
        card = (built / "README.md").read_text(encoding="utf-8", errors="replace") \
            if (built / "README.md").is_file() else None
        (built / "README.md").write_text(readme(plan, manifest, card), encoding="utf-8")
        say(f"checking the result against {stack.description}")
        checked = check_output(built, stack, plan.losses)
        if checked.verdict is not Verdict.OK:
            raise ConvertError("STC756", f"check of the converted folder says {checked.verdict}: "
                                         f"{'; '.join(checked.findings) or 'no finding'}", model=str(source),
                               output=str(output), figures={"verdict": str(checked.verdict),
                                                            "findings": list(checked.findings)})
        proof, cost = None, None
        if skipped is None:
            proof, cost = _verify(source, built, stack, plan, say, strict=verify is True)
            if proof is None:
                skipped = "the target environment could not be built"
        _put_in_place(built, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackportResult(str(model), asked, plan, checked, proof, skipped, cost)


def _verify(source: Path, built: Path, stack: Stack, plan: Plan, say: Log,
            strict: bool) -> tuple[VerifyProof | None, LossCost | None]:
    from ..errors import EnvBuildError

    say(f"building (or reusing) an environment for {stack.description}")
    try:
        python = target_env(stack)
    except EnvBuildError as exc:
        if strict:
            raise ConvertError("STC757", f"cannot verify: {exc.message}", model=str(source)) from None
        say(f"not verified: {exc.message}")
        return None, None
    with tempfile.TemporaryDirectory(prefix="stcompat-convert-fp-") as scratch:
        reference = Path(scratch) / "source.fp"
        say("fingerprinting the source here" + (" without the allowed losses" if plan.losses else ""))
        _, cost = reference_fingerprint(source, plan.losses, reference)
        say(f"loading the result in sentence-transformers {plan.release} and verifying")
        (proof,) = verify_many(python, [(built, reference)])
    if not proof.acceptable:
        figures = {"band": proof.band, "max_abs_diff": proof.max_abs_diff, "min_cosine": proof.min_cosine,
                   "message": proof.message}
        detail = proof.message or f"max |diff| {proof.max_abs_diff}, min cosine {proof.min_cosine}"
        raise ConvertError("STC757", f"verify in sentence-transformers {plan.release}: {proof.band} ({detail})",
                           model=str(source), figures=figures)
    return proof, cost
