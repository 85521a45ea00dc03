"""The data `inspect` produces: what a model folder holds, as read from its files.

Every value here is read from a file, never computed by running the model. Raw JSON values keep
the shape they had on disk (``Mapping``/``list``) so nothing a loader would see is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..findings import Finding
from ..vocab import Generation, MergesFormat, ModelKind, Namespace, PoolingSchema, Severity, WeightFormat


@dataclass(frozen=True)
class StConfig:
    """``config_sentence_transformers.json``: what the saving release recorded."""

    present: bool
    """Whether the file exists (it does from ST 2.0 on)."""
    raw: Mapping[str, Any]
    """The whole file as written."""
    saved_with: Mapping[str, str] | None
    """The ``__version__`` dict as written: sentence_transformers, transformers, pytorch."""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every top-level key, in file order."""
        return tuple(self.raw)

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level value, or ``default`` when the key is absent."""
        return self.raw.get(key, default)


@dataclass(frozen=True)
class ModuleEntry:
    """One entry of ``modules.json`` and the configuration found in its folder."""

    idx: int | None
    """Position in the pipeline, as written."""
    name: str
    """The module's name (a key of the model's nn.Sequential)."""
    path: str
    """Folder relative to the model folder; ``""`` is the model folder itself."""
    type: str
    """The dotted class path as written, e.g. ``sentence_transformers.models.Pooling``."""
    kind: str
    """The class name alone (``Transformer``, ``Pooling``, ...)."""
    namespace: Namespace
    """Where the type lives: legacy (ST 2.x-5.3), modular (5.4+), another ST path, or custom code."""
    kwargs: tuple[str, ...]
    """modules.json ``kwargs`` (3.1+): names of forward kwargs routed to this module."""
    config_file: str | None
    """The config file read for this module, relative to the model folder, if any."""
    config: Mapping[str, Any]
    """That config as written (empty when there is none)."""
    folder_exists: bool
    """Whether ``path`` exists inside the model folder."""
    files: tuple[str, ...]
    """Files in the module folder (not recursive; root module: none listed here)."""
    config_problem: str | None = None
    """The code of the reading problem that kept this module's config (or its folder) from being read:
    STC005, STC010, STC011, STC018, STC019, STC021. None when it was read, or is absent (STC012/STC013)."""


@dataclass(frozen=True)
class PoolingInfo:
    """A Pooling module's settings, whatever schema stored them."""

    schema: PoolingSchema
    """Legacy pooling_mode_* flags, or the 5.4+ ``pooling_mode``."""
    modes: tuple[str, ...]
    """Active modes: cls, mean, max, mean_sqrt_len_tokens, weightedmean, lasttoken."""
    dimension: int | None
    """word_embedding_dimension / embedding_dimension."""
    include_prompt: bool | None
    """``include_prompt`` as written (2.4+); None when absent (the loader's default is True)."""


@dataclass(frozen=True)
class TransformerInfo:
    """``config.json`` of the Hugging Face transformer a Transformer module wraps."""

    config_file: str
    """Relative path of config.json."""
    model_type: str | None
    """``model_type``; must be known to the loading transformers release."""
    architectures: tuple[str, ...]
    """``architectures`` as written."""
    transformers_version: str | None
    """The transformers release that wrote config.json."""
    dtype: str | None
    """``dtype`` (transformers 5) or ``torch_dtype`` (4.x) as written."""
    auto_map: Mapping[str, Any]
    """``auto_map``: classes loaded from Python files in the folder (remote code)."""
    hidden_size: int | None
    """``hidden_size`` (or ``d_model``/``dim``) when present."""
    max_position_embeddings: int | None
    """``max_position_embeddings`` when present."""
    max_seq_length: int | None
    """The sequence limit the Transformer module uses: sentence_bert_config ``max_seq_length``
    (legacy) or tokenizer_config ``model_max_length`` (modular)."""
    do_lower_case: bool | None
    """sentence_bert_config ``do_lower_case`` (legacy layouts)."""
    dtype_key: str | None = None
    """The config.json key ``dtype`` was read from (``dtype`` or ``torch_dtype``); None when neither is set."""
    num_labels: int | None = None
    """Outputs of a classification head: ``num_labels``, else the size of ``id2label`` (a CrossEncoder's)."""
    activations: Mapping[str, str] = field(default_factory=dict)
    """A CrossEncoder's saved activation paths in config.json, by key (``sentence_transformers.activation_fn``,
    4.0-5.3; ``sbert_ce_default_activation_function``, up to 3.4)."""


@dataclass(frozen=True)
class TokenizerInfo:
    """The tokenizer files of one module folder."""

    folder: str
    """Folder relative to the model folder (``""`` for the root)."""
    files: tuple[str, ...]
    """Tokenizer files that exist (tokenizer.json, vocab.txt, merges.txt, ...)."""
    kind: str | None
    """tokenizer.json ``model.type``: WordPiece, BPE, Unigram, WordLevel; None without tokenizer.json."""
    merges_format: MergesFormat | None
    """BPE only: strings ("a b", every tokenizers release) or pairs (["a","b"], tokenizers >= 0.20)."""
    vocab_size: int | None
    """Entries in the tokenizer.json vocabulary."""
    tokenizer_class: str | None
    """tokenizer_config ``tokenizer_class``."""
    model_max_length: int | None
    """tokenizer_config ``model_max_length`` (absurd sentinel values kept as written)."""
    merges_error_position: tuple[int, int] | None = None
    """Pairs-format merges only: (line, column) where a tokenizers release that reads only strings
    stops and reports "data did not match any variant of untagged enum ModelWrapper"."""


@dataclass(frozen=True)
class WeightFile:
    """A weights file, described from its header or magic bytes only."""

    path: str
    """Relative to the model folder."""
    format: WeightFormat
    """safetensors, pickle (a torch.save zip or raw pickle: never opened), onnx, openvino."""
    size: int
    """Bytes on disk."""
    dtypes: tuple[str, ...] = ()
    """Distinct tensor dtypes (safetensors only), e.g. ``("F32",)``."""
    tensors: int | None = None
    """Number of tensors (safetensors only)."""
    parameters: int | None = None
    """Sum of tensor element counts (safetensors only)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The ``__metadata__`` of a safetensors header."""
    header_ok: bool | None = None
    """Whether the header parsed and its offsets match the file size; None when not applicable."""
    pickle_globals: tuple[str, ...] = ()
    """A torch.save zip's pickle: the ``module.name`` globals it references, in stream order (read from its
    opcodes, never unpickled); what ``torch.load(weights_only=True)`` checks against its allow-list."""
    truncated: str | None = None
    """How the file was cut short (STC022): ``data`` (a safetensors header placing tensors past the end),
    ``header`` (the end falls inside the safetensors header), ``zip`` (a torch.save zip without its end
    record); None when it is not."""


@dataclass(frozen=True)
class UnlistedModule:
    """A module folder (``N_Kind``, as sentence-transformers names what it saves) in a folder that has no
    modules.json: loaders build a default pipeline instead and never open it."""

    path: str
    """The folder, relative to the model folder (e.g. ``2_Dense``)."""
    kind: str
    """The class name its folder name gives (``Dense``)."""
    pooling_modes: tuple[str, ...] = ()
    """Pooling only: the modes its config.json sets (empty when unreadable)."""


@dataclass(frozen=True)
class ModelManifest:
    """Everything `inspect` read from one model folder."""

    path: str
    """The model folder, absolute."""
    source: str
    """``folder``, or ``hf-cache`` when resolved from a repo id."""
    repo_id: str | None
    """The repo id when resolved from the Hugging Face cache."""
    revision: str | None
    """The cached snapshot's commit hash when resolved from the cache."""
    generation: Generation
    """On-disk layout generation."""
    model_kind: ModelKind
    """SentenceTransformer, CrossEncoder or SparseEncoder (written from 5.0, else inferred)."""
    st_config: StConfig
    """config_sentence_transformers.json."""
    modules: tuple[ModuleEntry, ...]
    """The modules.json pipeline, in order."""
    pooling: PoolingInfo | None
    """The first Pooling module's settings."""
    transformer: TransformerInfo | None
    """The first Transformer module's config.json."""
    tokenizers: tuple[TokenizerInfo, ...]
    """Every folder with tokenizer files, root first."""
    weights: tuple[WeightFile, ...]
    """Every weights file in the folder tree."""
    features: tuple[str, ...]
    """ST features the model uses (see docs/inspect-schema.md for the list)."""
    problems: tuple[Finding, ...]
    """What was wrong or notable while reading."""
    code_files: tuple[str, ...] = ()
    """Python files at the top of the folder (``name.py``): what a loader may import as remote code."""
    unlisted_modules: tuple[UnlistedModule, ...] = ()
    """Without modules.json: the module folders the folder holds anyway (what the save had, unused)."""
    saved_settings: Mapping[str, Any] = field(default_factory=dict)
    """The config_sentence_transformers.json settings that change what the model returns, when set
    (see model/settings.py): what a loader that ignores them silently loses."""

    @property
    def saved_with(self) -> Mapping[str, str] | None:
        """The ``__version__`` dict of config_sentence_transformers.json, as written."""
        return self.st_config.saved_with

    @property
    def tokenizer(self) -> TokenizerInfo | None:
        """The main tokenizer: the root folder's, else the first found."""
        return self.tokenizers[0] if self.tokenizers else None

    @property
    def usable(self) -> bool:
        """False when any problem has error severity."""
        return not any(p.severity is Severity.ERROR for p in self.problems)
