"""The pytest plugin (entry point ``pytest11``): verify a model here against a committed fingerprint.

    @pytest.mark.stcompat_verify("models/my-model", "tests/my-model.fp")
    def test_my_model_embeds_as_pinned(): ...

    def test_by_hand(stcompat_verify):
        report = stcompat_verify("models/my-model", "tests/my-model.fp")

Either fails the test with the band (drift/broken) and the diagnosis when the embeddings moved
beyond noise in the environment pytest runs in. ``pytest --stcompat-update`` rewrites the
fingerprints instead (with the corpus and encode settings each file recorded), deliberately.
Relative paths are taken from pytest's rootdir, so a test reads the same files from any folder.

pytest loads this module in every run of every project where stcompat is installed: it imports
pytest and the standard library only; stcompat's fingerprint code (and with it numpy, torch and
sentence-transformers) is imported when a verify runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from ..fingerprint.verdict import Report

MARKER = "stcompat_verify"
UPDATE_OPTION = "--stcompat-update"


@dataclass(frozen=True)
class Outcome:
    """One verify (or rewrite) done in this session, for the terminal summary."""

    model: str
    """The model as the test named it."""
    fingerprint: str
    """The fingerprint file as the test named it."""
    verdict: str
    """The band, or ``rewritten`` under --stcompat-update, or ``error``."""


_OUTCOMES = pytest.StashKey[list[Outcome]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stcompat", "stcompat fingerprints")
    group.addoption(UPDATE_OPTION, action="store_true", default=False,
                    help="rewrite the fingerprints that stcompat_verify markers and fixture calls name, "
                         "instead of verifying against them")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(model, fingerprint, **options): before the test runs, re-embed the fingerprint's "
        "corpus with the model here and fail on drift or broken (options go to stcompat.verify)")
    config.stash[_OUTCOMES] = []


def _resolve(config: pytest.Config, name: str | Path, must_exist: bool) -> str:
    """``name`` from pytest's rootdir when relative; a model name that is no path stays as given."""
    path = Path(name)
    if path.is_absolute():
        return str(path)
    rooted = config.rootpath / path
    return str(rooted) if rooted.exists() or not must_exist else str(name)


def _failure(model: str, fp_file: str, report: "Report") -> str:
    """The band, the checks that decided it and the diagnosis, causes first."""
    m = report.metrics
    values = (f"dimension {m.dim_expected} -> {m.dim_actual}" if m.min_cosine is None or m.max_abs_diff is None
              else f"min cosine {m.min_cosine:.8f}, max |diff| {m.max_abs_diff:.3g}")
    lines = [f"stcompat verify: {model} vs {fp_file}: {report.verdict.value.upper()}",
             f"  {values}, top-k agreement {m.topk_agreement:.3f}, spearman {m.spearman:.6f}"]
    lines += [f"  because: {reason}" for reason in report.reasons]
    lines += [f"  {'cause' if d.cause else 'context'} ({d.kind}): {d.message}" for d in report.diagnosis]
    lines.append(f"  (if the change is intended, rewrite the fingerprint: pytest {UPDATE_OPTION})")
    return "\n".join(lines)


def _rewrite(model: str, fp_path: Path) -> "Report":
    """Fingerprint ``model`` into ``fp_path`` again, keeping the corpus and settings the old file recorded."""
    from ..fingerprint import compare, fingerprint, load_fingerprint

    options: dict[str, Any] = {}
    if fp_path.is_file():
        old = load_fingerprint(fp_path)
        settings = dict(old.settings)
        options = {"corpus": old.corpus, "storage": old.storage,
                   **{k: settings[k] for k in ("prompt_name", "normalize_embeddings", "precision", "batch_size",
                                                "device") if k in settings}}
    fp_path.parent.mkdir(parents=True, exist_ok=True)
    new = fingerprint(model, fp_path, progress=False, **options)
    return compare(new, new)  # identical by construction: the caller gets a Report in every mode


def verify_here(config: pytest.Config, model: str | Path, fp_file: str | Path, **options: Any) -> "Report":
    """Verify (or, under --stcompat-update, rewrite) one fingerprint; pytest.fail on drift, broken or an error."""
    from ..errors import StcompatError

    model_arg = _resolve(config, model, must_exist=True)
    fp_path = Path(_resolve(config, fp_file, must_exist=False))
    outcomes = config.stash[_OUTCOMES]
    try:
        if config.getoption(UPDATE_OPTION):
            report = _rewrite(model_arg, fp_path)
            outcomes.append(Outcome(str(model), str(fp_file), "rewritten"))
            return report
        if not fp_path.is_file():
            outcomes.append(Outcome(str(model), str(fp_file), "error"))
            pytest.fail(f"stcompat verify: no fingerprint at {fp_file}; create it with pytest {UPDATE_OPTION}",
                        pytrace=False)
        from ..fingerprint import verify

        report = verify(model_arg, fp_path, progress=False, **options)
    except StcompatError as exc:
        outcomes.append(Outcome(str(model), str(fp_file), "error"))
        pytest.fail(f"stcompat verify: {model} vs {fp_file}: error[{exc.code}]: {exc.message}", pytrace=False)
    outcomes.append(Outcome(str(model), str(fp_file), report.verdict.value))
    if report.exit_status != 0:
        pytest.fail(_failure(str(model), str(fp_file), report), pytrace=False)
    return report


@pytest.fixture
def stcompat_verify(request: pytest.FixtureRequest) -> Callable[..., "Report"]:
    """``stcompat_verify(model, fp_file, **options) -> Report``: fails the test on drift or broken.

    ``options`` go to ``stcompat.verify`` (thresholds, precision, batch_size, device).
    """
    config = request.config
    return lambda model, fp_file, **options: verify_here(config, model, fp_file, **options)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # In the call phase, before the test body: a moved model is a failed test, not an error in setup.
    for marker in item.iter_markers(MARKER):
        if len(marker.args) != 2:
            pytest.fail(f"@pytest.mark.{MARKER} takes (model, fingerprint), got {len(marker.args)} arguments",
                        pytrace=False)
        verify_here(item.config, *marker.args, **marker.kwargs)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    outcomes = config.stash.get(_OUTCOMES, [])
    if not outcomes:
        return
    terminalreporter.section("stcompat fingerprints")
    for o in outcomes:
        terminalreporter.write_line(f"{o.verdict:<10} {o.model} vs {o.fingerprint}")
