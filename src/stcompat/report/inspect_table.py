"""`inspect`'s default human view, drawn with rich."""

from __future__ import annotations

import json
from typing import Any, Sequence

from rich.console import Console

from rich.table import Table
from rich.text import Text

from ..model.manifest import ModelManifest
from ..vocab import WeightFormat
from . import shown_path
from .console import capture
from .safe import printable

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def _short(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(config: Any) -> str:
    """A module config on one line; legacy Pooling's false booleans are left out."""
    shown = {k: v for k, v in config.items() if not (k.startswith("pooling_mode_") and v is False)}
    return _short(json.dumps(shown, separators=(",", ":"), ensure_ascii=False), 90)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_one(console: Console, m: ModelManifest) -> None:
    """Print one model's manifest."""
    title = Text(printable(m.repo_id + f" @ {m.revision[:12]}" if m.repo_id else shown_path(m.path)), style="bold")
    console.print(title)
    saved = ", ".join(f"{k} {v}" for k, v in (m.saved_with or {}).items()) or "not recorded"
    console.print(Text.assemble(f"  {m.model_kind}, layout ", (str(m.generation), "bold"),
                                f", saved with: {printable(saved)}"))

    extra = {k: v for k, v in m.st_config.raw.items() if k != "__version__"}
    if extra:
        config = Table(title="config_sentence_transformers.json", title_justify="left", show_header=False)
        for key, value in extra.items():
            config.add_row(printable(key), printable(_short(value)))
        console.print(config)

    if m.modules:
        modules = Table(title="modules.json", title_justify="left")
        modules.add_column("idx")
        modules.add_column("name")
        modules.add_column("path")
        modules.add_column("type", no_wrap=True)
        modules.add_column("config", overflow="fold")
        for mod in m.modules:
            path = repr(mod.path) if mod.path == "" else mod.path
            if not mod.folder_exists:
                path += " (missing)"
            modules.add_row(str(mod.idx), printable(mod.name), printable(path), printable(mod.type),
                            printable(_compact(mod.config)) if mod.config else "")
        console.print(modules)

    facts = Table(title="transformer, tokenizer, weights", title_justify="left", show_header=False)
    t = m.transformer
    if t:
        facts.add_row("model_type", printable(f"{t.model_type} ({', '.join(t.architectures) or 'no architectures'})"))
        facts.add_row("transformers_version", printable(t.transformers_version))
        facts.add_row("dtype", printable(t.dtype or "not recorded"))
        facts.add_row("max_seq_length", str(t.max_seq_length))
        if t.auto_map:
            facts.add_row("auto_map (remote code)", printable(_short(dict(t.auto_map))))
    for tok in m.tokenizers:
        where = tok.folder or "root"
        kind = tok.kind or "no tokenizer.json"
        if tok.merges_format:
            kind += f", merges as {tok.merges_format}"
        facts.add_row(printable(f"tokenizer ({where})"), printable(f"{kind}; {', '.join(tok.files)}"))
    for w in m.weights:
        detail = w.format
        if w.format is WeightFormat.SAFETENSORS and w.header_ok:
            detail += f", {'/'.join(w.dtypes)}, {w.parameters:,} params in {w.tensors} tensors"
        elif w.format is WeightFormat.SAFETENSORS:
            detail += ", header INVALID"
        facts.add_row(printable(f"weights {w.path}"), printable(f"{detail}, {_size(w.size)}"))
    console.print(facts)

    console.print(Text(printable(f"  features: {', '.join(m.features) or 'none'}")))
    for p in m.problems:
        where = f" ({p.file}{'#' + p.key if p.key else ''})" if p.file else ""
        console.print(Text(printable(f"  {p.severity}[{p.code}] {p.message}{where}"),
                           style=_SEVERITY_STYLE[p.severity]))


def draw(console: Console, manifests: Sequence[ModelManifest]) -> None:
    """Print every manifest, a blank line apart."""
    for position, manifest in enumerate(manifests):
        if position:
            console.print()
        render_one(console, manifest)


def render(manifests: Sequence[ModelManifest]) -> str:
    """Every manifest as text."""
    return capture(lambda console: draw(console, manifests))
