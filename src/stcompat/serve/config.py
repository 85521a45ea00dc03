"""What `stcompat serve` is asked to do: the models, the limits, the batching, the network.

Plain frozen dataclasses, no I/O: the CLI fills them from argv, tests fill them directly, and every
other serve module reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
INSTANCE_MODES = ("thread", "process")
PRECISIONS = ("fp32", "bf16")
API_KEY_ENV = "STCOMPAT_API_KEY"
"""The environment variable read when --api-key is not given (keeps the key out of `ps` output)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model to serve."""

    name: str
    """The name clients send in ``model`` (``/v1/models`` lists it)."""
    path: str
    """Model folder (or a repo id in the local Hugging Face cache)."""
    fingerprint: str | None = None
    """A fingerprint file the start-up guard verifies the loaded model against."""
    matryoshka: bool = False
    """The operator vouches that truncated embeddings are meaningful (``dimensions`` is then honoured even
    when the folder itself does not say so)."""


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; anything over is refused with a 4xx before any work is queued."""

    max_inputs: int = 2048
    """Texts per embeddings request, documents per rerank request (OpenAI's own limit is 2048)."""
    max_chars: int = 32_768
    """Characters per text (the model truncates to its max_seq_length anyway; this bounds tokenizer work)."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Request body size, counted as it arrives (a lying Content-Length does not get past it)."""
    max_queue: int = 16_384
    """Texts waiting per model; a request that would overflow it gets 503 and Retry-After."""

    def __post_init__(self) -> None:
        for name in ("max_inputs", "max_chars", "max_body_bytes", "max_queue"):
            if getattr(self, name) < 1:
                raise InputError("STC004", f"{name.replace('_', '-')} must be at least 1", name)


@dataclass(frozen=True)
class Batching:
    """Dynamic micro-batching: requests queued together are encoded together."""

    max_batch: int = 128
    """Texts a free worker waits for and takes its share of (the oldest queued; all of them when no other
    worker is free), sorted by length and encoded in forward batches. The more texts a call sorts, the less
    each forward batch pads: 64 cost ~15% against one global sort, 128 ~7%."""
    batch_size: int = 32
    """Texts per forward pass inside a call (``encode(batch_size=...)``); where the torch backend packs its
    forward batches (convert/packing.py), rows of packed texts per forward pass."""
    max_wait_ms: float = 2.0
    """How long an idle worker waits for more requests after the first one arrives."""
    instances: int = 1
    """Model instances per model, each with its own worker thread (and its own tokenizer)."""
    threads: int | None = None
    """torch (or runtime) intra-op threads per instance (None: torch's default, one per core, shared out among
    the instances: ``instance_threads``)."""
    instance_mode: str = "thread"
    """Where instances run: ``thread`` (in the server process) or ``process`` (each in its own worker process,
    with its own interpreter and GIL: isolation, a crash costs one batch). Threads by default: on
    all-MiniLM-L6-v2, two 1-thread instances served 530 sentences/s either way, in 612 MiB of memory as threads
    and 1,525 MiB as processes (bench/serve.py, 2026-12-07); torch releases the GIL in its kernels."""

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.batch_size < 1 or self.instances < 1:
            raise InputError("STC004", "max-batch, batch-size and instances must be at least 1")
        if self.instance_mode not in INSTANCE_MODES:
            raise InputError("STC004", f"instance mode {self.instance_mode!r}: use {', '.join(INSTANCE_MODES)}",
                             self.instance_mode)

    def instance_threads(self, total: int) -> int:
        """Threads each instance runs on: ``threads`` when given, else ``total`` (torch's default, one per core)
        shared out among the instances, so N instances do not each spin a pool the size of the machine."""
        return self.threads or max(1, total // self.instances)

    @property
    def processes(self) -> bool:
        """Whether instances run in worker processes."""
        return self.instance_mode == "process"
        if self.max_wait_ms < 0:
            raise InputError("STC004", "max-wait-ms must not be negative")
        if self.threads is not None and self.threads < 1:
            raise InputError("STC004", "threads must be at least 1")


@dataclass(frozen=True)
class ServeConfig:
    """Everything `stcompat serve` needs."""

    models: tuple[ModelSpec, ...]
    """The models, in the order given (names unique)."""
    host: str = DEFAULT_HOST
    """Interface to bind: loopback by default, so exposing the server is a decision."""
    port: int = DEFAULT_PORT
    """TCP port (0: any free port)."""
    api_key: str | None = None
    """When set, every endpoint but /health* needs ``Authorization: Bearer KEY``."""
    allow_unsafe: bool = False
    """Start even when the guard refuses (check fails/degraded, verify drift/broken); reported everywhere."""
    backend: str = "torch"
    """Which inference backend loads the models (torch, or an exported one: onnx, openvino)."""
    min_agreement: float = 0.99
    """Exported backends: least top-10 neighbour agreement with the torch model on the probe corpus admitted."""
    export_cache: str | None = None
    """Exported backends: where on-the-fly exports are kept (None: $STCOMPAT_EXPORT_CACHE or ~/.cache)."""
    precision: str = "fp32"
    """Exported backends: the precision the fp32 graph is run in (``bf16``: OpenVINO on a CPU with native bf16,
    admitted by the same measure as any export)."""
    device: str = "cpu"
    """torch device."""
    limits: Limits = field(default_factory=Limits)
    """Per-request limits."""
    batching: Batching = field(default_factory=Batching)
    """Micro-batching and threads."""
    graceful_timeout_s: float = 30.0
    """On SIGTERM/SIGINT: how long in-flight requests may take to finish before they are cancelled."""

    def __post_init__(self) -> None:
        if not self.models:
            raise InputError("STC004", "no model to serve")
        names = [m.name for m in self.models]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InputError("STC004", f"model name given twice: {', '.join(duplicated)}", duplicated[0])
        if not 0.0 <= self.min_agreement <= 1.0:
            raise InputError("STC004", f"min-agreement {self.min_agreement}: use a share between 0 and 1")
        if self.precision not in PRECISIONS:
            raise InputError("STC004", f"precision {self.precision!r}: use {', '.join(PRECISIONS)}", self.precision)
        if self.precision != "fp32" and self.backend != "openvino":
            raise InputError("STC004", f"--precision {self.precision} runs an OpenVINO export (--backend openvino); "
                             f"the {self.backend} backend computes in fp32", self.precision)
        if not 0 <= self.port <= 65535:
            raise InputError("STC004", f"port {self.port}: use 0-65535", str(self.port))


def _split_named(value: str) -> tuple[str, str] | None:
    """``NAME=VALUE`` -> (NAME, VALUE); None when ``value`` is not of that form (or is an existing path)."""
    import os

    name, sep, rest = value.partition("=")
    if not sep or not name or not rest or os.path.exists(value) or "/" in name or os.sep in name:
        return None
    return name, rest


def _default_name(path: str) -> str:
    """A served name for an unnamed model: its folder name (a repo id stays whole)."""
    import os

    trimmed = path.rstrip("/" + os.sep)
    return trimmed if not os.path.exists(trimmed) else os.path.basename(os.path.abspath(trimmed))


def model_specs(models: tuple[str, ...], fingerprints: tuple[str, ...] = (),
                matryoshka: tuple[str, ...] = ()) -> tuple[ModelSpec, ...]:
    """ModelSpecs from the command line: each model ``PATH`` or ``NAME=PATH``; each fingerprint ``FILE``
    (only with one model) or ``NAME=FILE``; ``matryoshka`` the names whose ``dimensions`` the operator allows."""
    pairs = []
    for value in models:
        named = _split_named(value)
        pairs.append(named if named is not None else (_default_name(value), value))
    names = [n for n, _ in pairs]
    files: dict[str, str] = {}
    for value in fingerprints:
        named = _split_named(value)
        if named is not None and named[0] in names:
            name, file = named
        elif len(pairs) == 1:
            name, file = names[0], value
        else:
            raise InputError("STC004", f"--fingerprint {value}: with several models, write NAME=FILE "
                             f"(models: {', '.join(names)})", value)
        if name in files:
            raise InputError("STC004", f"two fingerprints for model {name!r}", value)
        files[name] = file
    unknown = [n for n in matryoshka if n not in names]
    if unknown:
        raise InputError("STC004", f"--matryoshka {unknown[0]}: no model of that name (models: {', '.join(names)})",
                         unknown[0])
    return tuple(ModelSpec(n, p, files.get(n), n in matryoshka) for n, p in pairs)
