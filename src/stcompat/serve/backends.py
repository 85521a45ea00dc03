"""Inference backends: what turns a batch of texts into vectors (or a batch of pairs into scores).

The server and the batcher talk to the small ``Backend`` interface below and never to torch or
sentence-transformers directly. The torch backend is the model loaded by the installed
sentence-transformers, encoding exactly as its own ``encode``/``predict`` would (saved prompts,
``default_prompt_name``, ``truncate_dim``, the saved activation of a CrossEncoder). The exported
backends (``onnx``, ``openvino``: backend_export.py) are the same pipeline with the Transformer's
forward run by onnxruntime or OpenVINO, admitted by measure against torch.

One backend object is one model instance; the batcher gives each instance its own worker thread, so
a backend is never called from two threads at once (HF fast tokenizers are not re-entrant).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import InputError
from ..vocab import ModelKind

if TYPE_CHECKING:
    import numpy as np

    from ..fingerprint.embed import LoadedModel
    from .config import ServeConfig
    from ..convert.packing import Layout

EMBED = "embeddings"
RERANK = "rerank"
ROLES = {ModelKind.SENTENCE_TRANSFORMER: EMBED, ModelKind.CROSS_ENCODER: RERANK}
"""Which endpoint serves which model kind. SparseEncoder output is not a dense vector: not served yet."""


@dataclass(frozen=True)
class Encoded:
    """The result of one backend call, rows in the order of the inputs."""

    values: "np.ndarray"
    """float32: one embedding per text (n x dim), or one score per pair (n)."""
    tokens: tuple[int, ...]
    """Tokens the model's tokenizer made of each input (prompt and special tokens included, capped at
    max_seq_length: what the model really read). Summed into ``usage``."""


@dataclass(frozen=True)
class Capabilities:
    """What a loaded model offers its endpoint; the server validates requests against this."""

    role: str
    """``embeddings`` (SentenceTransformer) or ``rerank`` (CrossEncoder)."""
    dimension: int | None = None
    """Length of the vectors ``encode`` returns by default (after a saved truncate_dim)."""
    normalizes: bool = False
    """The pipeline ends in a Normalize module: its vectors are unit length."""
    prompts: Mapping[str, str] = field(default_factory=dict)
    """Saved prompts by name (a client picks one with ``prompt_name``)."""
    default_prompt_name: str | None = None
    """The prompt applied when a client names none, as ``encode`` applies it."""
    truncate_dim: int | None = None
    """The saved truncate_dim (already applied by ``encode``)."""
    max_seq_length: int | None = None
    """Tokens per input the model reads; longer inputs are truncated by the tokenizer."""
    truncatable: str | None = None
    """Why ``dimensions`` is honoured (a saved truncate_dim, a Matryoshka loss named in the model card, the
    operator's --matryoshka), or None when it is refused."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form, for /info."""
        return {"role": self.role, "dimension": self.dimension, "normalizes": self.normalizes,
                "prompts": dict(self.prompts), "default_prompt_name": self.default_prompt_name,
                "truncate_dim": self.truncate_dim, "max_seq_length": self.max_seq_length,
                "dimensions_supported": self.truncatable is not None, "dimensions_because": self.truncatable}


class Backend(abc.ABC):
    """One loaded model instance. Called from one worker thread at a time."""

    name: str = "abstract"
    """Backend id as /info reports it (``torch``, ``onnx``, ``openvino``)."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What the model offers (role, dimension, prompts, ...)."""

    def embed(self, texts: Sequence[str], prompt_name: str | None, batch_size: int) -> Encoded:
        """Embed ``texts`` as the model's own encode would, with the named prompt (None: the default)."""
        raise NotImplementedError(f"{self.name} backend: this model does not embed")

    def rerank(self, pairs: Sequence[tuple[str, str]], batch_size: int) -> Encoded:
        """Score (query, document) pairs as the model's own predict would (its saved activation)."""
        raise NotImplementedError(f"{self.name} backend: this model does not rerank")

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend, device, dtype, threads: for /info."""

    def close(self) -> None:
        """Release what the instance holds beyond memory (a worker process); called once, at shutdown."""

    threads: int | None = None
    """torch intra-op threads of the thread that runs this instance's calls (set by ``use_thread``)."""

    def use_thread(self, threads: int | None) -> None:
        """Called first in the thread that will make every call of this instance. torch keeps its intra-op
        thread count, and OpenMP its thread pool, per calling thread: a forward pass run from a thread other than
        the one that sized the pool ran ~1.5x slower here (bench/threads.py), because two pools on two cores make
        OpenMP stop spinning between parallel regions. So the pool is sized in the thread that uses it."""
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()


def _preprocess(model: Any, inputs: Sequence[Any], prompt: str | None) -> Mapping[str, Any]:
    """The model's own tokenization of ``inputs`` (padded to the longest), prompt handling included."""
    if hasattr(model, "preprocess"):  # ST >= 5: the same call encode makes
        return model.preprocess(list(inputs), prompt=prompt) if prompt else model.preprocess(list(inputs))
    texts = [prompt + t for t in inputs] if prompt else list(inputs)  # older releases prepend the prompt
    return model.tokenize(texts)


def _counts(features: Mapping[str, Any]) -> tuple[int, ...]:
    """Tokens per input in tokenized features (padding excluded)."""
    mask = features.get("attention_mask")
    if mask is not None:
        return tuple(int(n) for n in mask.sum(dim=1).tolist())
    ids, offsets = features["input_ids"], features.get("offsets")
    if offsets is not None and getattr(ids, "dim", lambda: 2)() == 1:
        # StaticEmbedding: every text's ids end to end, ``offsets`` where each begins (an EmbeddingBag's input).
        bounds = [int(b) for b in offsets.tolist()] + [len(ids)]
        return tuple(end - begin for begin, end in zip(bounds, bounds[1:]))
    return tuple(len(row) for row in ids)


def _token_counts(model: Any, inputs: Sequence[Any], prompt: str | None) -> tuple[int, ...]:
    """Tokens per input as the model's own preprocessing makes them (padding excluded)."""
    return _counts(_preprocess(model, inputs, prompt))


def _rows(features: Mapping[str, Any], rows: Sequence[int]) -> dict[str, Any]:
    """The features of some of the inputs, as tokenizing those inputs alone makes them: their rows, with the
    padding columns none of them uses dropped (on whichever side the tokenizer pads). Values that are not
    per-input tensors (``prompt_length``, ``modality``) are the batch's and are kept as they are."""
    import torch

    mask = features["attention_mask"]
    index = torch.tensor(list(rows), dtype=torch.long)
    used = mask[index].any(dim=0)
    out: dict[str, Any] = {}
    for key, value in features.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == mask.shape[0]:
            value = value[index]
            if value.dim() == 2 and value.shape[1] == used.shape[0]:
                value = value[:, used]
        out[key] = value
    return out


def _torch_info(model: Any, device: str, threads: int | None) -> dict[str, Any]:
    import torch

    dtype = next((str(p.dtype).removeprefix("torch.") for p in model.parameters()), None)
    return {"backend": "torch", "device": device, "dtype": dtype, "torch": torch.__version__,
            "threads": threads if threads is not None else torch.get_num_threads()}


class TorchEmbedder(Backend):
    """A SentenceTransformer loaded by the installed sentence-transformers."""

    name = "torch"

    def __init__(self, loaded: "LoadedModel", truncatable: str | None) -> None:
        self._loaded = loaded
        self._st = loaded.st
        st = self._st
        prompts = {k: v for k, v in (getattr(st, "prompts", None) or {}).items() if isinstance(v, str)}
        dim_fn = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        self._caps = Capabilities(
            role=EMBED, dimension=dim_fn(), normalizes=any(type(m).__name__ == "Normalize" for m in st),
            prompts=prompts, default_prompt_name=getattr(st, "default_prompt_name", None),
            truncate_dim=getattr(st, "truncate_dim", None), max_seq_length=getattr(st, "max_seq_length", None),
            truncatable=truncatable,
        )
        from ..convert.packing import PackedTransformer

        self._packed = PackedTransformer.of(st)
        self._mode = self._batching_mode()

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def _sentence_embeddings(self, features: Mapping[str, Any]) -> "np.ndarray":
        """The saved truncate_dim applied to a forward's ``sentence_embedding``, as float32 rows."""
        embeddings = features["sentence_embedding"]
        if self._caps.truncate_dim is not None:
            embeddings = embeddings[..., : self._caps.truncate_dim]
        return embeddings.float().numpy()

    def _forward(self, features: Mapping[str, Any]) -> "np.ndarray":
        """One forward batch as the body of encode's own loop runs it (the modules, ``sentence_embedding``, the
        saved truncate_dim), without the set-up encode repeats on every call (eval() over every module, device
        resolution, a length sort): ~1 ms a call, a request's worth at concurrency 1."""
        return self._sentence_embeddings(self._st(features))

    def _forward_packed(self, features: Mapping[str, Any], placed: "Layout") -> "np.ndarray":
        """One forward of packed rows (convert/packing.py), then the pipeline's other modules as the model's own
        forward runs them (pooling, dense, normalize: per text, on the token embeddings put back in rows)."""
        features = self._packed(features, placed)
        for module in list(self._st)[1:]:
            features = module(features)
        return self._sentence_embeddings(features)

    def _embed_direct(self, texts: Sequence[str], prompt: str | None, batch_size: int) -> Encoded:
        """``embed`` through ``_forward``: the texts are tokenized once, for ``usage`` and for every forward batch
        (sorted by token count, each batch's rows cut out of the one tokenization: ~3% of a cycle's time here).
        Where packing is admitted, forward batches are packed rows instead (``batch_size`` rows each)."""
        import numpy as np

        features = _preprocess(self._st, texts, prompt)
        tokens = _counts(features)
        if self._mode == "packed" and self._packed.packable(features):
            return Encoded(self._embed_packed(features, batch_size), tokens)
        order = sorted(range(len(texts)), key=lambda i: -tokens[i])
        chunks = [self._forward(_rows(features, order[k:k + batch_size])) for k in range(0, len(order), batch_size)]
        values = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
        values[order] = np.concatenate(chunks)
        return Encoded(values, tokens)

    def _embed_packed(self, features: Mapping[str, Any], batch_size: int) -> "np.ndarray":
        """All the texts of ``features`` laid out in packed rows, run ``batch_size`` rows per forward (each
        forward's texts cut out of the one tokenization); rows back in input order."""
        import numpy as np

        from ..convert.packing import Layout

        placed = self._packed.rows_for(features)
        in_row: list[list[int]] = [[] for _ in range(placed.rows)]
        for text, row in enumerate(placed.row):
            in_row[row].append(text)
        values: np.ndarray | None = None
        forwards = -(-placed.rows // batch_size)
        bounds = [round(k * placed.rows / forwards) for k in range(forwards + 1)]  # equal parts, none tiny
        for first, last in zip(bounds, bounds[1:]):
            members = [text for row in range(first, last) for text in in_row[row]]
            part = Layout(placed.width, tuple(placed.row[t] - first for t in members),
                          tuple(placed.offset[t] for t in members), last - first)
            out = self._forward_packed(_rows(features, members), part)
            if values is None:
                values = np.empty((len(placed.row), out.shape[1]), dtype=np.float32)
            values[members] = out
        assert values is not None
        return values

    def _batching_mode(self) -> str:
        """How this instance runs its forward batches: ``packed`` (convert/packing.py), ``direct`` (padded forward
        batches cut from one tokenization) or ``encode`` (the model's own encode, per forward batch). Each of the
        first two is used only where it gives what ``encode`` gives here, measured at load on texts of several
        lengths with every saved prompt (max |diff| <= 1e-6): packed in rows run one per forward, with texts
        sharing rows; direct in forward batches of two. Where neither does (an older sentence-transformers
        without ``preprocess``, a device other than the CPU, a pipeline whose encode does more, features that
        cannot be cut into rows), encode serves."""
        import numpy as np
        import torch

        if not hasattr(self._st, "preprocess") or str(self._loaded.device) != "cpu":
            return "encode"
        # One text longer than any model reads (truncated to max_seq_length, as encode truncates it): positions
        # far into a row, and a row as wide as the model's longest.
        texts = ["a", "The cat sits on the mat.", "Embeddings for search, ranked by cosine similarity. " * 3,
                 "Ünïcödé, ponctuation ; et chiffres 12345?", " ".join(f"word{i} and more" for i in range(120))]
        modes = (["packed"] if self._packed is not None else []) + ["direct"]
        with torch.inference_mode():
            try:
                wanted = {name: self._st.encode(texts, prompt_name=name, batch_size=len(texts),
                                                show_progress_bar=False, convert_to_numpy=True)
                          for name in (None, *self._caps.prompts)}
            except Exception:  # noqa: BLE001 - encode itself failing here fails the same way when serving
                return "encode"
            self._st.eval()  # encode did, once; the other modes rely on it (no dropout)
            for mode in modes:
                self._mode = mode
                if mode == "packed" and not all(self._packed.packable(_preprocess(self._st, texts, self._prompt(name)))
                                                for name in wanted):
                    continue  # features packing does not lay out would go down the padded path unmeasured here
                try:
                    if all(self._matches(want, self._embed_direct(texts, self._prompt(name), 1 if mode == "packed"
                                                                  else 2).values) for name, want in wanted.items()):
                        return mode
                except Exception:  # noqa: BLE001 - any difference in how this release runs a batch: not this mode
                    continue
        return "encode"

    @staticmethod
    def _matches(want: "np.ndarray", got: "np.ndarray") -> bool:
        import numpy as np

        return got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-6

    @property
    def loaded(self) -> "LoadedModel":
        """The loaded model (the guard verifies this very instance)."""
        return self._loaded

    def _prompt(self, prompt_name: str | None) -> str | None:
        # The same resolution encode makes: a named prompt, else the default prompt, else none.
        caps = self._caps
        if prompt_name is not None:
            return caps.prompts[prompt_name]
        if caps.default_prompt_name is not None:
            return caps.prompts.get(caps.default_prompt_name)
        return None

    def embed(self, texts: Sequence[str], prompt_name: str | None, batch_size: int) -> Encoded:
        import numpy as np
        import torch

        with torch.inference_mode():
            if self._mode != "encode":
                return self._embed_direct(texts, self._prompt(prompt_name), batch_size)
            kwargs: dict[str, Any] = {"batch_size": batch_size, "show_progress_bar": False, "convert_to_numpy": True}
            if prompt_name is not None:
                kwargs["prompt_name"] = prompt_name
            tokens = _token_counts(self._st, texts, self._prompt(prompt_name))
            # Forward batches of texts with similar token counts pad least (encode itself sorts by characters,
            # which is close but not the same); the tokenizer already ran for usage, so this order is free.
            order = sorted(range(len(texts)), key=lambda i: -tokens[i])
            chunks = [self._st.encode([texts[i] for i in order[k:k + batch_size]], **kwargs)
                      for k in range(0, len(order), batch_size)]
        values = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
        values[order] = np.concatenate(chunks)
        return Encoded(values, tokens)

    def describe(self) -> dict[str, Any]:
        return {**_torch_info(self._st, self._loaded.device, self.threads), "batches": self._batches()}

    def _batches(self) -> str:
        return self._mode


class TorchReranker(Backend):
    """A CrossEncoder loaded by the installed sentence-transformers."""

    name = "torch"

    def __init__(self, model: Any, device: str) -> None:
        self._ce = model
        self._device = device
        self._caps = Capabilities(role=RERANK, max_seq_length=getattr(model, "max_seq_length", None))

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def rerank(self, pairs: Sequence[tuple[str, str]], batch_size: int) -> Encoded:
        import numpy as np
        import torch

        with torch.inference_mode():
            scores = self._ce.predict(list(pairs), batch_size=batch_size, show_progress_bar=False,
                                      convert_to_numpy=True)
            tokens = _token_counts(self._ce, pairs, None)
        return Encoded(np.asarray(scores, dtype=np.float32).reshape(len(pairs)), tokens)

    def describe(self) -> dict[str, Any]:
        return _torch_info(self._ce, self._device, self.threads)


def _load_cross_encoder(path: str, device: str) -> Any:
    from sentence_transformers import CrossEncoder

    return CrossEncoder(path, device=device)


def load_torch(path: str, kind: ModelKind, device: str, truncatable: str | None,
               loaded: "LoadedModel | None" = None) -> Backend:
    """Load one instance with the installed sentence-transformers (``loaded``: reuse a model already loaded).

    Raises ModelLoadError (STC605) or RuntimeMissingError (STC604) when it cannot.
    """
    from ..errors import ModelLoadError, RuntimeMissingError
    from ..fingerprint.embed import load_model

    if kind is ModelKind.SENTENCE_TRANSFORMER:
        return TorchEmbedder(loaded or load_model(path, device=device), truncatable)
    try:
        import torch  # noqa: F401 - fail early with a clear message
        model = _load_cross_encoder(path, device)
    except ImportError as exc:
        raise RuntimeMissingError(f"cannot serve: {exc.name or exc} is not installed (pip install "
                                  "'stcompat[runtime]')", str(exc.name or exc)) from None
    except Exception as exc:  # any loader failure is one line: the model does not load here
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(f"{path}: the installed sentence-transformers cannot load the model "
                             f"({type(exc).__name__}: {first[:300]})", path, type(exc).__name__) from None
    model.eval()
    return TorchReranker(model, device)


Loader = Callable[..., Backend]
BACKENDS: dict[str, Loader] = {"torch": load_torch}
"""Backend id -> loader(path, kind, device, truncatable, loaded=None), for backends that need no options."""
EXPORTED_BACKENDS = ("onnx", "openvino")
"""Backends that run an exported graph (serve/backend_export.py): made per server, with its admission options."""


def loader_for(backend: str, config: "ServeConfig | None" = None,
               log: Callable[[str], None] = lambda _: None) -> Loader:
    """The loader of a backend id (exported ones take their options from ``config``), or STC004."""
    if backend in EXPORTED_BACKENDS:
        from .backend_export import ExportOptions, exported_loader

        options = ExportOptions() if config is None else ExportOptions(
            config.min_agreement, config.export_cache, config.batching.threads, config.precision)
        return exported_loader(backend, options, log)
    if backend not in BACKENDS:
        raise InputError("STC004", f"backend {backend!r} is not available (available: "
                         f"{', '.join([*BACKENDS, *EXPORTED_BACKENDS])})", backend)
    return BACKENDS[backend]
