"""Prove a converted folder: `check` it against the target, then load it in a real environment of the
target and verify its embeddings against a fingerprint of the source made here.

The reference is the source as this environment loads it, minus exactly the settings the user agreed
to lose (--allow-loss): the proof then says that nothing else changed, and a second figure says what
the loss itself costs. The target environment is the matrix's (uv, cached, the shared CPU torch), and
the verify code runs there from a private copy of this package, with that environment's packages only.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from packaging.utils import canonicalize_name

from ..env.stack import Stack
from ..rules.engine import check_one
from ..vocab import Effect, Verdict
from .plan import Loss

if TYPE_CHECKING:
    from ..fingerprint.corpus import Corpus
    from ..fingerprint.fileformat import Fingerprint

# The layers of a target the verify environment pins (torch is the shared CPU build; python is ours).
_ENV_LAYERS = ("transformers", "tokenizers", "huggingface-hub")
VERIFY_TIMEOUT = 600.0


@dataclass(frozen=True)
class CheckProof:
    """`check` of the converted folder against the target."""

    verdict: Verdict
    """Must be ok."""
    findings: tuple[str, ...]
    """``CODE message`` of every finding that is not info."""


@dataclass(frozen=True)
class VerifyProof:
    """The converted folder loaded in a real environment of the target, against the source's fingerprint."""

    band: str
    """identical, noise, drift, broken, or ``fails`` when it did not load."""
    max_abs_diff: float | None
    """Largest absolute difference of any value (main set)."""
    min_cosine: float | None
    """Smallest cosine of any text (main set)."""
    texts: int
    """Probe texts embedded."""
    packages: Mapping[str, str] = field(default_factory=dict)
    """What the target environment held."""
    reference: Mapping[str, str] = field(default_factory=dict)
    """What the reference environment (here) held."""
    message: str = ""
    """The load error, for ``fails``."""
    seconds: float = 0.0
    """Wall time of the load and embedding there."""

    @property
    def acceptable(self) -> bool:
        """identical or noise."""
        return self.band in ("identical", "noise")


@dataclass(frozen=True)
class LossCost:
    """What the allowed losses change, measured here: the source as saved vs the source without them."""

    max_abs_diff: float | None
    """None when the dimensions differ (truncate_dim lost)."""
    min_cosine: float | None
    """Smallest cosine of any text."""
    dimensions: tuple[int, int]
    """(as saved, without the losses)."""


# Findings a loss accounts for: the loss was allowed, listed in OUT/README.md and measured by the proof.
LOSS_CODES = {"dtype": "STC203", "torch_dtype": "STC203"}


def check_output(folder: str | Path, target: Stack, losses: Iterable[Loss] = ()) -> CheckProof:
    """Predict, from the files alone, what the target does with the converted folder. A degraded finding that
    an allowed loss accounts for (the target computes a half checkpoint in float32) leaves the verdict ok."""
    from ..model.inspect import inspect_model

    result = check_one(inspect_model(str(folder)), target)
    allowed = {LOSS_CODES[key] for key in (loss.setting.rsplit(" ", 1)[-1] for loss in losses) if key in LOSS_CODES}
    shown = tuple(f"{f.code} {f.message}" for f in result.findings if f.effect is not Effect.INFO)
    rest = [f for f in result.findings if f.effect is not Effect.INFO and f.code not in allowed]
    verdict = result.verdict
    if verdict is Verdict.DEGRADED and all(f.effect not in (Effect.DEGRADED, Effect.UNKNOWN, Effect.FAILS)
                                           for f in rest):
        verdict = Verdict.OK
    return CheckProof(verdict, shown)


def verify_unavailable(target: Stack) -> str | None:
    """Why the target cannot be loaded for real from here; None when it can."""
    from importlib.metadata import PackageNotFoundError, version

    if importlib.util.find_spec("sentence_transformers") is None:
        return "sentence-transformers is not installed here, so the source cannot be fingerprinted"
    if shutil.which("uv") is None and importlib.util.find_spec("uv") is None:
        return "uv is not installed (pip install 'stcompat[matrix]')"
    torch = target.get("torch")
    try:
        local = version("torch").split("+")[0]
    except PackageNotFoundError:
        return "torch is not installed here"
    if torch is not None and torch.base_version != local.split("+")[0]:
        return f"the target's torch {torch} is not this machine's torch {local}, which every environment shares"
    python = target.get("python")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python is not None and f"{python.major}.{python.minor}" != here:
        return f"the target's python {python} is not this interpreter's {here}"
    return None


def _apply_losses(loaded: object, losses: Iterable[Loss]) -> None:
    """Make the live model behave as the target will: without exactly the lost settings."""
    from ..fingerprint.embed import pipeline_summary

    model = loaded.st  # type: ignore[attr-defined]
    lost = {loss.setting.rsplit(" ", 1)[-1] for loss in losses}
    if "prompts" in lost:
        model.prompts = {}
    if "prompts" in lost or "default_prompt_name" in lost:
        model.default_prompt_name = None
    if "truncate_dim" in lost:
        model.truncate_dim = None
    dtype_losses = [loss for loss in losses if loss.setting.rsplit(" ", 1)[-1] in ("dtype", "torch_dtype")]
    if dtype_losses:
        # the target computes the half checkpoint in the other dtype than this (saving) stack does
        import torch

        half = getattr(torch, str(dtype_losses[0].value))
        computes_half = any(p.dtype == half for p in model.parameters())
        model.to(torch.float32 if computes_half else half)
    if "include_prompt" in lost:
        for module in model:
            if hasattr(module, "include_prompt"):
                module.include_prompt = True
    loaded.pipeline = pipeline_summary(model)  # type: ignore[attr-defined]


def proof_corpus() -> "Corpus":
    """The shipped probe corpus with surrounding whitespace removed from each text, and without the
    texts that are then empty.

    Releases before 5.4 strip every text before tokenizing and 5.4+ does not (measured: " " is
    <s></s> for RoBERTa's byte-level BPE in 2.2.2, 3.4.1 and 5.1.2, and <s> Ġ </s> in 6.2.0). That is
    the release's input handling, which no file of the folder changes, so the proof of a conversion
    leaves it out. An empty text embeds as the special tokens alone, or as a zero vector for
    StaticEmbedding, whose cosine the verdict cannot judge. Every other text is embedded as shipped.
    """
    from ..fingerprint import Corpus, CorpusEntry, load_corpus

    shipped = load_corpus(None)
    entries = tuple(CorpusEntry(e.text.strip(), e.tags, e.prompt) for e in shipped.entries if e.text.strip())
    return Corpus(entries, f"{shipped.source}, surrounding whitespace and empty texts removed")


def _finite(pipeline: dict) -> dict:
    # StaticEmbedding reports max_seq_length inf, which a fingerprint header (strict JSON) cannot hold.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in pipeline.items()}


def reference_fingerprint(source: str | Path, losses: tuple[Loss, ...],
                          output: str | Path) -> tuple["Fingerprint", LossCost | None]:
    """Fingerprint the source here (without the allowed losses) into ``output``; and what the losses cost."""
    from ..fingerprint import compare, fingerprint
    from ..fingerprint.embed import load_model

    try:  # transformers 5 draws a progress bar for every weights load
        from transformers.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:
        pass
    corpus = proof_corpus()
    loaded = load_model(source)
    loaded.pipeline = _finite(loaded.pipeline)
    as_saved = fingerprint(loaded, corpus=corpus, progress=False) if losses else None
    if losses:
        _apply_losses(loaded, losses)
        loaded.pipeline = _finite(loaded.pipeline)
    reference = fingerprint(loaded, output, corpus=corpus, progress=False)
    cost = None
    if as_saved is not None:
        report = compare(as_saved, reference)
        dims = (as_saved.sets["main"].values.shape[1], reference.sets["main"].values.shape[1])
        same = dims[0] == dims[1]
        cost = LossCost(report.metrics.max_abs_diff if same else None,
                        report.metrics.min_cosine if same else None, dims)
    return reference, cost


def target_env(target: Stack, log: Callable[[str], None] | None = None) -> Path:
    """The python of a real environment of the target (built once, then cached, like the matrix's)."""
    from ..matrix.envs import ensure_env, release_spec
    from ..matrix.runner import default_torch

    release = str(target.get("sentence-transformers"))
    spec = release_spec(release, python=sys.executable, torch=default_torch(), extra=_extra_pins(release, target))
    return ensure_env(spec, log=log)


def _extra_pins(release: str, stack: Stack) -> list[str]:
    """The target's layers as pins on top of the release's measured period stack. Layers that match it
    keep its spelling, so the matrix's cached environment is reused; any other is added as checked."""
    from ..matrix.envs import period_pins

    period = {canonicalize_name(p.split("==")[0]): p.split("==")[1] for p in period_pins(release) or ()}
    return [f"{layer}=={stack.get(layer)}" for layer in _ENV_LAYERS
            if stack.get(layer) is not None and period.get(layer) != str(stack.get(layer))]


def _package_copy(into: Path) -> Path:
    """A copy of this package alone, so the target's interpreter imports nothing else from here."""
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, into / "stcompat", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return into


# Runs inside the target environment: verify each (folder, fingerprint) pair in one process (one import
# of sentence-transformers for many models), with the same code path as verify_cli.
_VERIFY_MANY = """
import json, sys
from stcompat.errors import StcompatError
from stcompat.fingerprint import verify
results = []
for folder, fp in json.loads(sys.argv[1]):
    try:
        results.append(verify(folder, fp, progress=False).as_dict())
    except StcompatError as exc:
        results.append({"verdict": "fails", "message": exc.code + ": " + exc.message})
print(json.dumps(results, default=str))
"""


def _proof(report: Mapping[str, object], seconds: float) -> VerifyProof:
    metrics = report.get("metrics") or {}
    if report.get("verdict") == "fails" or not metrics:
        return VerifyProof("fails", None, None, 0, message=str(report.get("message", "")), seconds=seconds)
    actual, expected = report.get("actual") or {}, report.get("expected") or {}
    return VerifyProof(str(report["verdict"]), metrics.get("max_abs_diff"), metrics.get("min_cosine"),
                       int(metrics.get("rows") or 0), dict(actual.get("packages", {})),
                       dict(expected.get("packages", {})), seconds=round(seconds, 1))


def verify_many(python: Path, pairs: list[tuple[str | Path, str | Path]],
                timeout: float = VERIFY_TIMEOUT) -> list[VerifyProof]:
    """Verify each (folder, fingerprint) pair inside the target environment, in one process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    todo = json.dumps([[str(folder), str(fp)] for folder, fp in pairs])
    with tempfile.TemporaryDirectory(prefix="stcompat-verify-") as scratch:
        env.update(PYTHONPATH=str(_package_copy(Path(scratch))), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", PYTHONNOUSERSITE="1")
        started = time.time()
        try:
            proc = subprocess.run([str(python), "-c", _VERIFY_MANY, todo], capture_output=True, text=True, env=env,
                                  cwd=scratch, timeout=timeout * max(1, len(pairs)))
        except subprocess.TimeoutExpired:
            failed = VerifyProof("fails", None, None, 0, message=f"verify ran past {timeout:.0f} s per model")
            return [failed] * len(pairs)
        seconds = (time.time() - started) / max(1, len(pairs))
    try:
        reports = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        failed = VerifyProof("fails", None, None, 0, message=tail[-1] if tail else f"exit {proc.returncode}")
        return [failed] * len(pairs)
    return [_proof(report, seconds) for report in reports]


@dataclass(frozen=True)
class LockEndProof:
    """One end of a lock's sentence-transformers range, installed from the lock and loaded for real."""

    release: str
    """The sentence-transformers release pinned at this end."""
    outcome: str
    """The matrix cell's outcome (ok, degraded, fails, env-error) or ``unresolvable``."""
    versions: Mapping[str, str]
    """What the environment held."""
    max_abs_diff: float | None
    """Against the model loaded here."""
    reasons: tuple[str, ...]
    """Why it is not ok."""


def prove_lock(model: str | Path, lines: Iterable[str], ends: Iterable[str]) -> list[LockEndProof]:
    """Resolve the lock with sentence-transformers pinned at each end (uv), build that environment, load
    the model there and compare its embeddings with this environment's (the matrix's probe)."""
    from ..env.resolve import complete
    from ..env.stack import parse_requirements, stack_from_requirements
    from ..matrix.runner import run_matrix

    kept = [line.split("#", 1)[0].strip() for line in lines]
    kept = [line for line in kept if line and not line.startswith("sentence-transformers")]
    found = []
    for release in ends:
        stack = complete(stack_from_requirements(parse_requirements(kept + [f"sentence-transformers=={release}"],
                                                                    "lock"), "lock"))
        if stack.resolved_by is None:
            found.append(LockEndProof(release, "unresolvable", {}, None, ("uv pip compile found no solution",)))
            continue
        result = run_matrix([model], [release], extra=_extra_pins(release, stack), reference="current", jobs=1)
        cell = next(c for c in result.cells if c.release == release)
        found.append(LockEndProof(release, str(cell.outcome), dict(cell.versions), cell.max_abs_diff, cell.reasons))
    return found
