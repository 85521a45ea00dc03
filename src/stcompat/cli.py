"""The command line: the only module that knows argv and exit codes. One thin function per command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, TypeVar

import click

from .errors import InputError, StcompatError

F = TypeVar("F", bound=Callable[..., object])


def _show(subject: str, fmt: str, result: object) -> None:
    """Print ``result`` in the chosen format (report/formats.py is the one registry)."""
    from .report.formats import render

    click.echo(render(subject, fmt, result), nl=False)


def _formats(subject: str, default: str = "table", exclude: tuple[str, ...] = ()) -> Callable[[F], F]:
    """The --format option of a command, its choices read from the report registry."""
    from .report.formats import names

    return click.option("--format", "fmt", type=click.Choice(names(subject, exclude=exclude)), default=default,
                        show_default=True)


# Exit statuses (README "Exit status"): a verdict is 0 or 1; anything that is not a verdict is 2 or 3,
# so CI can tell "the model fails" from "stcompat could not answer".
EXIT_OK, EXIT_VERDICT, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def _fail(code: str, message: str, status: int = EXIT_INPUT) -> None:
    from .report.safe import one_line

    click.echo(f"error[{code}]: {one_line(message)}", err=True)
    sys.exit(status)


def _debug() -> bool:
    import os

    context = click.get_current_context(silent=True)
    flag = bool(context and context.find_root().params.get("debug"))
    return flag or os.environ.get("STCOMPAT_DEBUG") == "1"


def _guard(func: F) -> F:
    """Turn StcompatError (and OS errors) into one line on stderr and exit status 2, and any other
    exception (a bug) into one line with code STC099 and exit status 3; --debug adds the traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StcompatError as exc:
            if _debug():
                import traceback

                traceback.print_exc()
            _fail(exc.code, exc.message)
        except OSError as exc:
            _fail("STC005", f"{exc.filename or ''}: {exc.strerror or exc}".strip(": "))
        except (SystemExit, KeyboardInterrupt, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BaseException as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
            if _debug():
                import traceback

                traceback.print_exc()
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            _fail("STC099", f"internal error {type(exc).__name__}{': ' + detail if detail else ''} "
                  "(run with --debug for the traceback, and please report it)", EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


class _CodedUsageError(click.UsageError):
    """A usage error click found (unknown option, bad choice, missing argument), shown as stcompat shows every
    error in its input: ``error[STC004]: ...`` after click's usage line, exit status 2 as before."""

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.format_message(), original.ctx)

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        from .report.safe import one_line

        if self.ctx is not None:
            click.echo(f"{self.ctx.get_usage()}\nTry '{self.ctx.command_path} --help' for help.", file=file,
                       err=file is None)
        click.echo(f"error[STC004]: {one_line(self.format_message())}", file=file, err=file is None)


def _coded(exc: click.UsageError) -> click.UsageError:
    # NoArgsIsHelpError prints the help itself: a bare `stcompat` is not an error in its input.
    if isinstance(exc, _CodedUsageError) or type(exc).__name__ == "NoArgsIsHelpError":
        return exc
    return _CodedUsageError(exc)


class _Group(click.Group):
    """The command group, with click's usage errors under the stable code every bad argument has (STC004):
    those of the group's own options (make_context) and those of a command's (parsed inside invoke)."""

    def make_context(self, *args, **kwargs):  # noqa: ANN002, ANN003 - click's signature
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _coded(exc) from None

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _coded(exc) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stcompat")
@click.option("--debug", is_flag=True, help="Show the traceback of an error (also STCOMPAT_DEBUG=1).")
def main(debug: bool) -> None:
    """stcompat: make Sentence Transformers models safe to deploy across versions.

    Exit status: 0 ok, 1 a verdict is not ok (check, matrix, verify, compare), 2 unusable input
    (error[CODE] on stderr), 3 an internal error (error[STC099]).
    """


@main.command("inspect")
@click.argument("paths", nargs=-1, required=True)
@_formats("inspect")
@click.option("--cache-dir", help="Hugging Face cache to resolve repo ids in (default: HF_HUB_CACHE).")
@click.option("--revision", help="Cached revision (branch, tag or commit) for repo ids.")
@_guard
def inspect_cmd(paths: tuple[str, ...], fmt: str, cache_dir: str | None, revision: str | None) -> None:
    """Read model folders (or folders of models, or cached repo ids) without importing torch.

    Exit status: 0 when every model was read, 2 when an input is unusable.
    """
    from .model.inspect import inspect_models

    manifests = inspect_models(*paths, cache_dir=cache_dir, revision=revision)
    _show("inspect", fmt, manifests)
    if not all(m.usable for m in manifests):
        sys.exit(EXIT_INPUT)


@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every code.")
@_guard
def rule_cmd(code: str | None, show_all: bool) -> None:
    """Explain a finding code (what it detects, why it matters, the fix)."""
    from .codes import RULES

    if show_all or not code:
        for rule in RULES.values():
            click.echo(f"{rule.code}  {rule.severity:<7}  {rule.name}")
        return
    rule = RULES.get(code.upper())
    if rule is None:
        raise InputError("STC004", f"unknown code {code}; `stcompat rule --all` lists them", code)
    click.echo(f"{rule.code} {rule.name} ({rule.severity.value})\n")
    click.echo(f"What it does: {rule.what}\n\nWhy it matters: {rule.why}\n\nFix: {rule.fix}")


# --- fingerprint / verify / compare (stcompat.fingerprint) -------------------------------------

_PRECISIONS = click.Choice(["float32", "float16", "bfloat16"])


@main.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--target", "targets", multiple=True, metavar="SPEC",
              help='Requirement specifiers, e.g. "sentence-transformers==2.2.2 transformers==4.30.2". Repeatable.')
@click.option("-r", "--requirements", multiple=True, metavar="FILE", help="A requirements file as target. Repeatable.")
@click.option("--python", "pythons", multiple=True, metavar="PATH",
              help="Another interpreter's environment as target (read from its metadata). Repeatable.")
@_formats("check")
@click.option("--fail-on", type=click.Choice(["degraded", "fails"]), default="degraded", show_default=True,
              help="Exit 1 when any verdict is this bad or worse.")
@click.option("--no-resolve", is_flag=True, help="Do not complete unpinned layers with a resolver.")
@click.option("--cache-dir", help="Hugging Face cache to resolve repo ids in.")
@click.option("--loader", type=click.Choice(["sentence-transformer", "cross-encoder", "sparse-encoder"]),
              help="The class you load the models with (default: each folder's own kind, as saved).")
@_guard
def check_cmd(paths: tuple[str, ...], targets: tuple[str, ...], requirements: tuple[str, ...],
              pythons: tuple[str, ...], fmt: str, fail_on: str, no_resolve: bool, cache_dir: str | None,
              loader: str | None) -> None:
    """Predict whether models load and behave as saved in a target environment (default: this one).

    Exit status: 0 when every verdict is ok, 1 when any is degraded/unknown or fails
    (--fail-on fails: only fails), 2 for unusable input.
    """
    from .checker import check
    from .vocab import Verdict

    results = check(*paths, targets=targets, requirements=requirements, pythons=pythons,
                    resolve=not no_resolve, cache_dir=cache_dir, loader=loader)
    _kb_warnings()  # a cached `kb update` that is not used: check answered from the bundled data
    _show("check", fmt, results)
    worst = Verdict.FAILS if fail_on == "fails" else Verdict.UNKNOWN
    if any(r.verdict.rank >= worst.rank for r in results):
        sys.exit(EXIT_VERDICT)


@main.command("matrix")
@click.argument("paths", nargs=-1, required=True)
@click.option("--st", "releases", required=True, metavar="LIST",
              help='Comma-separated sentence-transformers releases; "latest" = newest in the knowledge base.')
@click.option("--with", "extra", multiple=True, metavar="REQ", help='Extra pin for every cell, e.g. "transformers==4.41.2".')
@click.option("--reference", default="current", show_default=True,
              help='"current" (this environment) or a release from --st; differences are measured against it.')
@click.option("-j", "--jobs", default=2, show_default=True,
              help="Cells run in parallel (local executor; with --executor ray the cluster's resources decide).")
@click.option("--offline", is_flag=True, help="Use only cached environments and uv's cache.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds per probe.")
@click.option("--torch", "torch_spec", help="The torch every environment shares (requirement or wheel path).")
@_formats("matrix", exclude=("html",))
@click.option("--plot", "plot_path", metavar="FILE", help="Write a heatmap PNG.")
@click.option("--html", "html_path", metavar="FILE", help="Write a self-contained HTML report.")
@click.option("--batch", is_flag=True, help="One process per release for all models (fast; cells not isolated).")
@click.option("--cache-dir", help="Hugging Face cache to resolve repo ids in.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help='Where cells run: threads on this machine, or one Ray task per cell (pip install "stcompat[ray]").')
@click.option("--address", metavar="ADDR",
              help='Ray cluster: "auto", "ray://HOST:10001" (default: RAY_ADDRESS, else a local instance).')
@click.option("--shared-path", "shared_paths", multiple=True, metavar="DIR",
              help="A folder every Ray node mounts at the same path: models over 512 MiB are read there. Repeatable.")
@click.option("--cpus-per-cell", type=float, metavar="N", help="Ray CPUs each cell requests (default 1).")
@click.option("--memory-per-cell", metavar="SIZE", help="Ray memory each cell requests, e.g. 4GiB.")
@click.option("--loader", type=click.Choice(["sentence-transformer", "cross-encoder", "sparse-encoder"]),
              default="sentence-transformer", show_default=True,
              help="The class each model is loaded with: SentenceTransformer (encode), CrossEncoder (predict of "
                   "fixed pairs) or SparseEncoder (encode).")
@_guard
def matrix_cmd(paths: tuple[str, ...], releases: str, extra: tuple[str, ...], reference: str, jobs: int,
               offline: bool, timeout: float, torch_spec: str | None, fmt: str, plot_path: str | None,
               html_path: str | None, batch: bool, cache_dir: str | None, executor: str, address: str | None,
               shared_paths: tuple[str, ...], cpus_per_cell: float | None, memory_per_cell: str | None,
               loader: str) -> None:
    """Load models in real isolated environments, one per release, and record what happens.

    Exit status: 0 when every cell is ok, 1 otherwise, 2 for unusable input.
    """
    runner = _matrix_executor(executor, address, shared_paths, cpus_per_cell, memory_per_cell)
    from rich.progress import Progress

    from .kb.query import knowledge
    from .matrix.runner import run_matrix
    from .model.folder import targets_for
    from .report.console import make_console
    from .report.formats import render
    from .vocab import Verdict

    newest = knowledge().st_newest()
    chosen = [str(newest.version) if r.strip() == "latest" and newest else r.strip()
              for r in releases.split(",") if r.strip()]
    if not chosen:
        raise InputError("STC004", "--st names no release", releases)
    for release in chosen:  # before anything is built: a typo must not start an environment
        _check_release(release, offline)
    # Targets keep their read boundary: a repo id in the HF cache is read through its blobs/.
    models = [target for arg in paths for target in targets_for(arg, cache_dir)]
    total = len(set(chosen) | ({reference} - {"current"})) + len(models) * (len(set(chosen)) + (reference == "current"))
    console = make_console(stderr=True)
    # Off where stderr is not a terminal (CI logs, a pipe): a bar is noise there, and stopping one prints a line
    # break that would come before an error's one line.
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("matrix", total=total)
        result = run_matrix(models, chosen, extra=extra, reference=reference, jobs=jobs, offline=offline,
                            timeout=timeout, torch=torch_spec, batch=batch, executor=runner, loader=loader,
                            on_progress=lambda what: progress.update(task, advance=1, description=what))
    _show("matrix", fmt, result)
    if plot_path:
        from .matrix.plot import plot

        plot(result, plot_path)
    if html_path:
        Path(html_path).write_text(render("matrix", "html", result), encoding="utf-8")
    if any(c.outcome is not Verdict.OK for c in result.cells):
        sys.exit(EXIT_VERDICT)


def _matrix_executor(executor: str, address: str | None, shared_paths: tuple[str, ...], cpus: float | None,
                     memory: str | None) -> object | None:
    """None for the local executor; the Ray executor, checked before anything runs, for ``ray``."""
    if executor == "local":
        given = [name for name, value in (("--address", address), ("--shared-path", shared_paths),
                                          ("--cpus-per-cell", cpus), ("--memory-per-cell", memory)) if value]
        if given:
            raise InputError("STC004", f"{', '.join(given)} only apply to --executor ray", given[0])
        return None
    from .matrix.ray_executor import RayExecutor, parse_size, require_ray

    require_ray()  # STC702 at once, before any release is looked up
    if cpus is not None and cpus <= 0:
        raise InputError("STC004", f"--cpus-per-cell must be positive, not {cpus}", str(cpus))
    try:
        size = parse_size(memory) if memory else None
    except ValueError as exc:
        raise InputError("STC004", f"--memory-per-cell: {exc}", memory) from None
    return RayExecutor(address=address, shared_paths=shared_paths, cpus_per_cell=cpus or 1.0,
                       memory_per_cell=size, log=lambda line: click.echo(line, err=True))


def _check_release(release: str, offline: bool) -> None:
    """A --st value must be a version the knowledge base covers, or one the package registry has."""
    from packaging.version import InvalidVersion, Version

    from .kb.query import knowledge

    try:
        Version(release)
    except InvalidVersion:
        raise InputError("STC004", f"--st {release!r} is not a version (e.g. 2.7.0, or latest)", release) from None
    if knowledge().st(release) is not None:
        return
    from .env.resolve import release_on_registry

    known = None if offline else release_on_registry("sentence-transformers", release)
    if known is False:
        raise InputError("STC004", f"sentence-transformers {release} does not exist on the package registry", release)
    if known is None:
        newest = knowledge().st_newest()
        raise InputError("STC004", f"sentence-transformers {release} is not in the knowledge base (it covers up to "
                         f"{newest.version if newest else 'nothing'}) and the registry could not confirm it", release)


def _kb_warnings() -> None:
    """One line per cached `kb update` document that is not used (the bundled knowledge answers then)."""
    from .kb.query import knowledge
    from .report.safe import one_line

    for problem in knowledge().update_problems():
        click.echo(f"warning[{problem.code}]: {one_line(problem.line())}", err=True)


@main.group("kb", invoke_without_command=True)
@_formats("kb")
@click.pass_context
@_guard
def kb_cmd(context: click.Context, fmt: str) -> None:
    """Show what the knowledge base covers: the bundled data and what `stcompat kb update` added."""
    if context.invoked_subcommand is not None:
        return
    from .kb.query import knowledge

    _kb_warnings()
    _show("kb", fmt, knowledge().coverage())


@kb_cmd.command("update")
@click.option("--offline", is_flag=True, help="Read only cached registry indexes and artifacts (no request).")
@click.option("--until", metavar="DATE", help="Only releases published up to DATE (ISO 8601, UTC when no zone).")
@_formats("kb-update")
@_guard
def kb_update_cmd(offline: bool, until: str | None, fmt: str) -> None:
    """Build the facts of releases newer than the bundled knowledge, from the package registry, with the
    extractors that built it; cached under the stcompat cache (kb/), the bundled data untouched."""
    from datetime import datetime, timezone

    from .kbbuild.update import update

    cutoff = None
    if until:
        try:
            cutoff = datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            raise InputError("STC004", f"--until {until!r} is not an ISO 8601 date (e.g. 2026-08-06)", until) from None
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=timezone.utc)
    if offline:
        click.echo("offline: using only cached registry indexes and artifacts", err=True)
    result = update(until=cutoff, offline=offline, progress=lambda line: click.echo(line, err=True))
    _show("kb-update", fmt, result)


def _threshold_options(func: F) -> F:
    """The verdict thresholds, shared by verify and compare (defaults: noise.py, the one definition)."""
    from .noise import DEFAULT_THRESHOLDS as T

    options = [
        click.option("--max-abs-diff", type=float, default=T.noise_max_abs_diff, show_default=True,
                     help="Noise band: largest absolute difference of any value."),
        click.option("--min-cosine", type=float, default=T.noise_min_cosine, show_default=True,
                     help="Noise band: smallest cosine of any text."),
        click.option("--broken-cosine", type=float, default=T.broken_min_cosine, show_default=True,
                     help="Broken below this cosine for any text."),
        click.option("--min-topk", type=float, default=T.broken_min_topk, show_default=True,
                     help="Broken below this top-k neighbour agreement."),
        click.option("--min-spearman", type=float, default=T.broken_min_spearman, show_default=True,
                     help="Broken below this Spearman of pairwise similarities."),
        click.option("--top-k", type=int, default=T.top_k, show_default=True, help="k of the neighbour test."),
        _formats("verify"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _thresholds(max_abs_diff: float, min_cosine: float, broken_cosine: float, min_topk: float,
                min_spearman: float, top_k: int):
    from .noise import Thresholds

    return Thresholds(noise_max_abs_diff=max_abs_diff, noise_min_cosine=min_cosine, broken_min_cosine=broken_cosine,
                      broken_min_topk=min_topk, broken_min_spearman=min_spearman, top_k=top_k)


def _show_report(report, fmt: str, title: str) -> None:
    from dataclasses import replace

    _show("verify", fmt, replace(report, title=title))
    sys.exit(report.exit_status)


@main.command("fingerprint")
@click.argument("model")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Fingerprint file to write.")
@click.option("--corpus", type=click.Path(dir_okay=False), help="Own probe texts: one a line, or JSON lines.")
@click.option("--prompt-name", help="Prompt applied to every text (default: the model's default prompt).")
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--precision", type=_PRECISIONS, default="float32", show_default=True, help="Compute dtype.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--storage", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="On-disk dtype; float16 halves the file and its rounding error is recorded.")
@_guard
def fingerprint_cmd(model: str, output: str, corpus: str | None, prompt_name: str | None, batch_size: int,
                    precision: str, device: str, storage: str) -> None:
    """Embed a probe corpus with MODEL and write a fingerprint file to pin its embeddings."""
    import os

    from .fingerprint import fingerprint

    fp = fingerprint(model, output, corpus=corpus, prompt_name=prompt_name, batch_size=batch_size,
                     precision=precision, device=device, storage=storage)
    pkgs = fp.environment.get("packages", {})
    shapes = ", ".join(f"{k} {v.values.shape[0]}x{v.values.shape[1]}" for k, v in fp.sets.items())
    click.echo(f"wrote {output} ({os.path.getsize(output):,} bytes): {len(fp.corpus.entries)} texts, {shapes}, "
               f"stored as {fp.storage}")
    click.echo(f"model sha256 {fp.model['sha256'][:16]}  sentence-transformers {pkgs.get('sentence-transformers')}"
               f"  transformers {pkgs.get('transformers')}  torch {pkgs.get('torch')}  device {device}")
    for note in fp.notes:
        click.echo(f"note: {note}", err=True)


@main.command("verify")
@click.argument("model")
@click.argument("fingerprint_file", metavar="FINGERPRINT")
@click.option("--precision", type=_PRECISIONS, help="Override the recorded compute dtype.")
@click.option("--batch-size", type=int, help="Override the recorded batch size.")
@click.option("--device", help="Override the recorded device.")
@_threshold_options
@_guard
def verify_cmd(model: str, fingerprint_file: str, precision: str | None, batch_size: int | None,
               device: str | None, fmt: str, **limits: float) -> None:
    """Re-embed the fingerprint's corpus with MODEL here and judge: identical, noise, drift or broken.

    Exit status: 0 identical/noise, 1 drift/broken, 2 unusable input.
    """
    from .fingerprint import load_fingerprint, verify

    expected = load_fingerprint(fingerprint_file)  # unreadable files fail before the model loads
    report = verify(model, expected, thresholds=_thresholds(**limits), precision=precision,
                    batch_size=batch_size, device=device)
    _show_report(report, fmt, f"{model} vs {fingerprint_file}")


@main.command("compare")
@click.argument("a", metavar="A.fp")
@click.argument("b", metavar="B.fp")
@_threshold_options
@_guard
def compare_cmd(a: str, b: str, fmt: str, **limits: float) -> None:
    """Judge fingerprint B against fingerprint A without loading any model.

    Exit status: 0 identical/noise, 1 drift/broken, 2 unusable input.
    """
    from .fingerprint import compare

    _show_report(compare(a, b, thresholds=_thresholds(**limits)), fmt, f"{b} vs {a}")



# --- convert / lock / stamp (stcompat.convert) -------------------------------------------------

def _exit_on_sigterm() -> None:
    """SIGTERM ends like Ctrl-C: cleanup runs, so an interrupted write leaves nothing half-made."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@main.command("convert")
@click.argument("model")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--target", metavar="SPEC",
              help='The stack to load it, e.g. "sentence-transformers==2.2.2 transformers==4.30.2".')
@click.option("--to", "to", type=click.Choice(["onnx", "openvino"]),
              help="Export the Transformer to this runtime instead (with the model's own pipeline around it).")
@click.option("--quantize", type=click.Choice(["int8"]), help="With --to: quantize the exported graph.")
@click.option("--min-agreement", default=0.99, show_default=True, type=float,
              help="With --to: least top-10 neighbour agreement with torch on the probe corpus that is admitted.")
@click.option("--allow-loss", is_flag=True, help="Convert even when the target ignores saved settings "
                                                 "(they are listed, and written into OUT/README.md); with --to, "
                                                 "write an export that is not admitted (marked so).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--verify/--no-verify", default=None,
              help="Load the result in a real environment of the target and compare embeddings "
                   "(default: when that environment can be built here).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_guard
def convert_cmd(model: str, output: str, target: str | None, to: str | None, quantize: str | None,
                min_agreement: float, allow_loss: bool, force: bool, verify: bool | None, fmt: str) -> None:
    """Write a copy of MODEL that the TARGET stack loads and that behaves as saved, proven by check and a real load;
    or, with --to onnx|openvino, export it and admit the export against torch (top-10 neighbour agreement).

    Exit status: 0 converted and proven (or exported and admitted), 2 refused or not proven (nothing is written then).
    """
    from .convert.backport import backport
    from .convert.summary import render

    if (target is None) == (to is None):
        raise InputError("STC004", "give --target SPEC (convert for an older stack) or --to onnx|openvino (export)")
    if to is None and quantize is not None:
        raise InputError("STC004", "--quantize goes with --to onnx|openvino")
    if to is not None and verify is not None:
        raise InputError("STC004", "--verify/--no-verify go with --target: an export is always verified against torch")
    _exit_on_sigterm()
    if to is not None:
        from .convert.export import export, render as render_export

        exported = export(model, output, to, quantize=quantize, min_agreement=min_agreement, allow_loss=allow_loss,
                          force=force, log=lambda line: click.echo(line, err=True))
        click.echo(render_export(exported, fmt), nl=False)
        return
    result = backport(model, output, target, allow_loss=allow_loss, force=force, verify=verify,
                      log=lambda line: click.echo(line, err=True))
    click.echo(render(result, fmt), nl=False)


@main.command("lock")
@click.argument("model")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: print it).")
@click.option("--constraints", is_flag=True, help="Write it as a constraints file (pip install -c).")
@click.option("--exact", is_flag=True, help="Pin what the model was saved with.")
@click.option("--prove", is_flag=True, help="Install the lock at both ends of its sentence-transformers range "
                                            "and load the model there; the proof goes beside -o as .proof.json.")
@click.option("--cache-dir", help="Hugging Face cache to resolve repo ids in.")
@_guard
def lock_cmd(model: str, output: str | None, constraints: bool, exact: bool, prove: bool,
             cache_dir: str | None) -> None:
    """Write the requirement ranges MODEL is known to load with and behave as saved, from the knowledge.

    Exit status: 0 written (and, with --prove, loaded ok at both ends), 1 a proof failed, 2 unusable input.
    """
    import json
    from dataclasses import replace

    from .convert.lock import lock
    from .model.inspect import inspect_model

    result = replace(lock(inspect_model(model, cache_dir=cache_dir), exact=exact), model=model)  # the path as given
    text = result.render(constraints)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    if prove:
        from dataclasses import asdict

        from .convert.prove import prove_lock

        _exit_on_sigterm()
        ends = prove_lock(result.model, text.splitlines(), dict.fromkeys(result.ends))
        for end in ends:
            diff = "n/a" if end.max_abs_diff is None else f"{end.max_abs_diff:.3g}"
            packages = ", ".join(f"{k} {v}" for k, v in end.versions.items() if k in (
                "sentence-transformers", "transformers", "tokenizers", "huggingface-hub"))
            click.echo(f"proof: sentence-transformers {end.release}: {end.outcome} (max |diff| {diff} vs here; "
                       f"{packages}){': ' + '; '.join(end.reasons) if end.reasons else ''}", err=True)
        if output:
            Path(output + ".proof.json").write_text(json.dumps([asdict(e) for e in ends], indent=1, default=str)
                                                    + "\n", encoding="utf-8")
        if any(end.outcome != "ok" for end in ends):
            sys.exit(1)


@main.command("stamp")
@click.argument("models", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Print the diff; write nothing.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 when a model's stamp is missing or stale (for pre-commit).")
@click.option("--force", is_flag=True, help="Overwrite an earlier backup.")
@_guard
def stamp_cmd(models: tuple[str, ...], dry_run: bool, check_only: bool, force: bool) -> None:
    """Write the `requirements` block sentence-transformers 6.0+ enforces into each model's
    config_sentence_transformers.json, inferred from what the model uses; the old file is kept as .bak.

    Exit status: 0 done (--check: every stamp present and current), 1 --check found one missing or
    stale, 2 unusable input.
    """
    from .convert.stamp import stamp, write_stamp
    from .model.inspect import inspect_model

    behind = False
    for model in models:
        result = stamp(inspect_model(model))
        if check_only:
            for name in result.added:
                click.echo(f"{model}: requirements lack {name}{result.requirements[name]['specifier']}")
            for name in result.stale:
                click.echo(f"{model}: requirements {name} is stale (the knowledge infers "
                           f"{result.inferred[name]['specifier']})")
            behind = behind or bool(result.added or result.stale)
            continue
        shown = result.diff or f"{model}: nothing to add: every inferred requirement is already there"
        click.echo(shown, nl=not shown.endswith("\n"))
        if dry_run or not result.added:
            continue
        backup = write_stamp(result, force=force)
        click.echo(f"wrote {result.path} (added {', '.join(result.added)}); the previous file is {backup}", err=True)
    if behind:
        sys.exit(1)


# --- serve (stcompat.serve) ----------------------------------------------------------------------

@main.command("serve")
@click.argument("models", nargs=-1, metavar="[MODEL | NAME=MODEL]...")
@click.option("--model", "named", multiple=True, metavar="NAME=PATH", help="Another model to serve. Repeatable.")
@click.option("--fingerprint", "fingerprints", multiple=True, metavar="[NAME=]FILE",
              help="Verify the model against this fingerprint before serving. Repeatable (NAME= with several).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, help="0: any free port.")
@click.option("--api-key", envvar="STCOMPAT_API_KEY", metavar="KEY",
              help="Require 'Authorization: Bearer KEY' (default: $STCOMPAT_API_KEY; none: no key).")
@click.option("--allow-unsafe", is_flag=True,
              help="Serve even when check fails/degrades or verify drifts/breaks (reported in /info and headers).")
@click.option("--matryoshka", multiple=True, metavar="NAME", help="Honour 'dimensions' for this model. Repeatable.")
@click.option("--backend", default="torch", show_default=True, type=click.Choice(["torch", "onnx", "openvino"]),
              help="Inference backend: onnx/openvino run an export (`convert --to`, or made on the fly) admitted "
                   "against torch.")
@click.option("--min-agreement", default=0.99, show_default=True, type=float,
              help="Exported backends: least top-10 neighbour agreement with torch on the probe corpus admitted.")
@click.option("--export-cache", type=click.Path(file_okay=False),
              help="Exported backends: where on-the-fly exports are kept (default $STCOMPAT_EXPORT_CACHE or "
                   "~/.cache/stcompat/exports).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16"]),
              help="--backend openvino: run the export in bf16 on a CPU with native bf16 (AMX, AVX512-BF16); "
                   "admitted against torch like any export.")
@click.option("--threads", type=int, help="torch threads per instance (default: the cores shared out among the instances).")
@click.option("--instances", default=1, show_default=True, help="Model instances per model.")
@click.option("--instance-mode", default="thread", show_default=True, type=click.Choice(["thread", "process"]),
              help="Where instances run: worker threads in the server process, or worker processes (own GIL, "
                   "own copy of the model; a crash costs one batch).")
@click.option("--max-batch", default=128, show_default=True, help="Texts a free worker gathers and takes its share of.")
@click.option("--batch-size", default=32, show_default=True,
              help="Texts per forward pass (packed rows per forward pass where the torch backend packs).")
@click.option("--max-wait-ms", default=2.0, show_default=True, help="How long an idle worker waits for more.")
@click.option("--max-inputs", default=2048, show_default=True, help="Texts per request.")
@click.option("--max-chars", default=32768, show_default=True, help="Characters per text.")
@click.option("--max-body-bytes", default=8 * 1024 * 1024, show_default=True, help="Request body size.")
@click.option("--max-queue", default=16384, show_default=True, help="Texts waiting per model before 503.")
@click.option("--graceful-timeout", default=30.0, show_default=True, help="Seconds in-flight requests get at shutdown.")
@click.option("--access-log", is_flag=True, help="Log every request (uvicorn's access log).")
@_guard
def serve_cmd(models: tuple[str, ...], named: tuple[str, ...], fingerprints: tuple[str, ...], host: str, port: int,
              api_key: str | None, allow_unsafe: bool, matryoshka: tuple[str, ...], backend: str,
              min_agreement: float, export_cache: str | None, device: str, precision: str,
              threads: int | None, instances: int, instance_mode: str, max_batch: int, batch_size: int, max_wait_ms: float,
              max_inputs: int, max_chars: int, max_body_bytes: int, max_queue: int, graceful_timeout: float,
              access_log: bool) -> None:
    """Serve models over HTTP (OpenAI /v1/embeddings, /v1/rerank, /health, /info, /metrics), after check
    (and verify, with --fingerprint) pass in this environment.

    Exit status: 0 after a graceful shutdown (SIGTERM or Ctrl-C: in-flight requests finish first), 2 when a model
    is refused (error[STC85x]) or an option is unusable.
    """
    from .serve import Batching, Limits, ServeConfig, serve
    from .serve.config import model_specs

    config = ServeConfig(
        models=model_specs(models + named, fingerprints, matryoshka), host=host, port=port, api_key=api_key or None,
        allow_unsafe=allow_unsafe, backend=backend, min_agreement=min_agreement, export_cache=export_cache,
        device=device, precision=precision,
        limits=Limits(max_inputs, max_chars, max_body_bytes, max_queue),
        batching=Batching(max_batch, batch_size, max_wait_ms, instances, threads, instance_mode), graceful_timeout_s=graceful_timeout)
    serve(config, log=lambda line: click.echo(line, err=True), log_level="info" if access_log else "warning",
          access_log=access_log)


if __name__ == "__main__":  # pragma: no cover
    main()
