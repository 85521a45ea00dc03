"""The command line: the only module that knows argv and exit codes. One thin function per command."""

from __future__ import annotations

import sys
from typing import Callable, TypeVar

import click

from .errors import StcompatError

F = TypeVar("F", bound=Callable[..., object])


def _console():
    # rich is imported on first use: `stcompat --help` and JSON output stay light.
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    return console


def _fail(code: str, message: str) -> None:
    click.echo(f"error[{code}]: {message}", err=True)
    sys.exit(2)


def _guard(func: F) -> F:
    """Turn StcompatError (and OS errors) into one line on stderr and exit status 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StcompatError as exc:
            _fail(exc.code, exc.message)
        except OSError as exc:
            _fail("STC005", f"{exc.filename or ''}: {exc.strerror or exc}".strip(": "))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stcompat")
def main() -> None:
    """stcompat: make Sentence Transformers models safe to deploy across versions."""


@main.command("inspect")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--cache-dir", help="Hugging Face cache to resolve repo ids in (default: HF_HUB_CACHE).")
@click.option("--revision", help="Cached revision (branch, tag or commit) for repo ids.")
@_guard
def inspect_cmd(paths: tuple[str, ...], fmt: str, cache_dir: str | None, revision: str | None) -> None:
    """Read model folders (or folders of models, or cached repo ids) without importing torch.

    Exit status: 0 when every model was read, 2 when an input is unusable.
    """
    from .model.inspect import inspect_models

    manifests = inspect_models(*paths, cache_dir=cache_dir, revision=revision)
    if fmt == "json":
        from .report import inspect_json

        click.echo(inspect_json.render(manifests))
    else:
        from .report import inspect_table

        inspect_table.render(_console(), manifests)
    if not all(m.usable for m in manifests):
        sys.exit(2)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every code.")
@_guard
def rule_cmd(code: str | None, show_all: bool) -> None:
    """Explain a finding code (what it detects, why it matters, the fix)."""
    from .rules.registry import RULES

    if show_all or not code:
        for rule in RULES.values():
            click.echo(f"{rule.code}  {rule.severity.value:<7}  {rule.name}")
        return
    rule = RULES.get(code.upper())
    if rule is None:
        raise StcompatError("STC004", f"unknown code {code}; `stcompat rule --all` lists them")
    click.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n")
    click.echo(f"What it does: {rule.what}\n\nWhy it matters: {rule.why}\n\nFix: {rule.fix}")


if __name__ == "__main__":  # pragma: no cover
    main()
