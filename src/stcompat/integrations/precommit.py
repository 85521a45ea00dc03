"""The pre-commit hooks (``.pre-commit-hooks.yaml``): ``stcompat-check`` and ``stcompat-stamp-check``.

pre-commit runs ``python -m stcompat.integrations.precommit HOOK [ARGS...] FILE...`` in a virtual
environment holding only the core install (no torch: ``check`` never needs it), with the names of
the changed files last. Each hook maps those names to the model folders they touch and does nothing
when there are none, so it can watch every file of a repository.

Exit status: 0 fine (or nothing to do), 1 a model fails the hook, 2 unusable input, printed as one
line ``error[CODE]: message`` like the CLI.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from typing import Sequence

from ..errors import InputError, StcompatError
from .folders import model_folders

# How the stamp-check hook reaches the installed command line (the same one users run).
DEFAULT_CLI: tuple[str, ...] = (sys.executable, "-m", "stcompat.cli")
# The option the stamp-check hook needs from `stcompat stamp`: exit 1 when a stamp is missing or stale.
STAMP_CHECK_OPTION = "--check"


@dataclass(frozen=True)
class StampSupport:
    """What the installed CLI offers for checking ``requirements`` stamps."""

    available: bool
    """Whether ``stcompat stamp --check`` can run."""
    reason: str
    """Why not, for the skip message (empty when available)."""


def stamp_support(cli: Sequence[str] = DEFAULT_CLI) -> StampSupport:
    """Ask the installed CLI (``stamp --help``) whether it has a ``stamp`` command with ``--check``.

    Detected, not assumed: the hook file and the package ship together, so the hook starts checking
    in the release whose CLI gains the command, with no flag to flip.
    """
    try:
        shown = subprocess.run([*cli, "stamp", "--help"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return StampSupport(False, f"the stcompat command line could not run ({exc})")
    if shown.returncode != 0:
        return StampSupport(False, "this stcompat has no `stcompat stamp` command yet")
    if STAMP_CHECK_OPTION not in shown.stdout:
        return StampSupport(False, f"`stcompat stamp` has no {STAMP_CHECK_OPTION} option")
    return StampSupport(True, "")


def run_check(files: Sequence[str], targets: Sequence[str], requirements: Sequence[str], fail_on: str,
              resolve: bool, fmt: str) -> int:
    """Check every touched model folder against the targets; 1 when a verdict is ``fail_on`` or worse."""
    from ..checker import check
    from ..report.formats import render
    from ..vocab import Verdict

    if not targets and not requirements:
        # The hook's own environment is a throwaway venv, never where the model will be deployed.
        raise InputError("STC004", "stcompat-check needs a target: add args [--target, SPEC] or [-r, FILE]")
    folders = model_folders(files)
    if not folders:
        print("stcompat-check: no model folder among the changed files")
        return 0
    results = check(*folders, targets=targets, requirements=requirements, resolve=resolve)
    print(render("check", fmt, results), end="")
    # The same policy as `stcompat check --fail-on`: "degraded" also fails on unknown.
    worst = Verdict.FAILS if fail_on == "fails" else Verdict.UNKNOWN
    return 1 if any(r.verdict.rank >= worst.rank for r in results) else 0


def run_stamp_check(files: Sequence[str], cli: Sequence[str] = DEFAULT_CLI) -> int:
    """``stcompat stamp --check`` over the touched model folders, or a clean skip while there is none."""
    folders = model_folders(files)
    if not folders:
        print("stcompat-stamp-check: no model folder among the changed files")
        return 0
    support = stamp_support(cli)
    if not support.available:
        names = ", ".join(str(f) for f in folders)
        print(f"stcompat-stamp-check: skipped: {support.reason}; not checked: {names}")
        return 0
    done = subprocess.run([*cli, "stamp", STAMP_CHECK_OPTION, *map(str, folders)])
    return 0 if done.returncode == 0 else 1 if done.returncode == 1 else 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stcompat.integrations.precommit",
                                     description="stcompat's pre-commit hooks.")
    hooks = parser.add_subparsers(dest="hook", required=True)
    check = hooks.add_parser("check", help="check the touched model folders against a target")
    check.add_argument("--target", dest="targets", action="append", default=[], metavar="SPEC",
                       help='requirement specifiers, e.g. "sentence-transformers==2.7.0 transformers==4.40.2"')
    check.add_argument("-r", "--requirements", action="append", default=[], metavar="FILE",
                       help="a requirements file as target")
    check.add_argument("--fail-on", choices=("degraded", "fails"), default="degraded",
                       help="fail when any verdict is this bad or worse (default: degraded)")
    check.add_argument("--no-resolve", action="store_true", help="do not complete unpinned layers with uv")
    check.add_argument("--format", dest="fmt", choices=("table", "markdown", "json"), default="table")
    check.add_argument("files", nargs="*", help="changed files (pre-commit passes them)")
    stamp = hooks.add_parser("stamp-check", help="fail when a model's requirements stamp is missing or stale")
    stamp.add_argument("files", nargs="*", help="changed files (pre-commit passes them)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.hook == "check":
            return run_check(args.files, args.targets, args.requirements, args.fail_on, not args.no_resolve, args.fmt)
        return run_stamp_check(args.files)
    except StcompatError as exc:
        print(f"error[{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error[STC005]: {exc.filename or ''}: {exc.strerror or exc}".replace(": : ", ": "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
