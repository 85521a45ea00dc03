"""The words stcompat's stages share: verdicts, effects, severities, layers and the kinds of things read.

The bottom floor of the house: every stage (read, know, judge, report, prove) imports these and
nothing here imports a stage. Each enum's value is the string the JSON schemas
(``stcompat.inspect/1``, ``stcompat.check/1``, ``stcompat.matrix/1``, ``stcompat.verify/1``) print,
so a member compares equal to its string and formats as it.
"""

from __future__ import annotations

from enum import Enum


class ValueEnum(str, Enum):
    """A str enum that prints as its value (``f"{Verdict.OK}"`` is ``ok`` on every Python)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    # Equal to its value, so it must hash like it (a dict keyed by strings finds a member).
    __hash__ = str.__hash__


class Verdict(ValueEnum):
    """What happens to a model in an environment: predicted by check, observed by matrix."""

    OK = "ok"
    """Loads and behaves as saved."""
    DEGRADED = "degraded"
    """Loads, but embeds differently from the save (a setting ignored, values beyond noise)."""
    FAILS = "fails"
    """Loading raises."""
    UNKNOWN = "unknown"
    """check cannot tell (a release or a piece of code outside the knowledge)."""
    ENV_ERROR = "env-error"
    """matrix only: the environment could not be built or run, so nothing was observed."""

    @property
    def rank(self) -> int:
        """Badness for sorting and ``--fail-on``: what is known for sure ranks above what is not."""
        return _VERDICT_RANK[self]


_VERDICT_RANK = {Verdict.OK: 0, Verdict.UNKNOWN: 1, Verdict.DEGRADED: 2, Verdict.FAILS: 3, Verdict.ENV_ERROR: 1}


class Effect(ValueEnum):
    """What one finding does to a check verdict."""

    FAILS = "fails"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"
    INFO = "info"


# fails > degraded > unknown > ok: what is known for sure comes first.
EFFECT_VERDICTS = ((Effect.FAILS, Verdict.FAILS), (Effect.DEGRADED, Verdict.DEGRADED), (Effect.UNKNOWN, Verdict.UNKNOWN))


class Severity(ValueEnum):
    """How bad a problem found while reading is. ``error`` makes the input unusable (inspect exits 2)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Layer(ValueEnum):
    """Which layer of the stack a code is about: decides which fix addresses it, never its digits."""

    INPUT = "input"
    """The input itself (paths, arguments, files of the model folder)."""
    LOADER = "loader"
    """The class a folder is loaded with (CrossEncoder, SparseEncoder): whether it exists and what it reads."""
    ST_MODULES = "st-modules"
    """sentence-transformers building the modules.json pipeline."""
    ST_CONFIG = "st-config"
    """sentence-transformers reading config_sentence_transformers.json."""
    ENVIRONMENT = "environment"
    """Whether the stack imports at all and matches published dependency ranges."""
    TRANSFORMERS = "transformers"
    TOKENIZERS = "tokenizers"
    WEIGHTS = "weights"
    """Weights files vs transformers and torch."""
    COVERAGE = "coverage"
    """What the knowledge does not cover."""
    FINGERPRINT = "fingerprint"
    """Fingerprint files, corpora and the embedding runtime."""
    MATRIX = "matrix"
    """Building and running isolated environments."""


class ModelKind(ValueEnum):
    """Which Sentence Transformers class a folder was saved by."""

    SENTENCE_TRANSFORMER = "SentenceTransformer"
    CROSS_ENCODER = "CrossEncoder"
    SPARSE_ENCODER = "SparseEncoder"
    OTHER = "other"
    """config_sentence_transformers.json names a model_type this stcompat does not know."""


LOADERS: dict[str, ModelKind] = {
    "sentence-transformer": ModelKind.SENTENCE_TRANSFORMER,
    "cross-encoder": ModelKind.CROSS_ENCODER,
    "sparse-encoder": ModelKind.SPARSE_ENCODER,
}
"""The classes a folder can be loaded with, by their command-line name (``--loader``)."""


def loader_for(kind: ModelKind) -> str:
    """The loader a folder of this kind is loaded with by default: its own class (SentenceTransformer
    for a kind this stcompat does not know)."""
    return next((name for name, k in LOADERS.items() if k is kind), "sentence-transformer")


class Generation(ValueEnum):
    """The on-disk layout generation of a model folder."""

    LEGACY = "legacy"
    """ST 2.0-5.3: sentence_transformers.models.* types, Pooling booleans."""
    MODULAR = "modular"
    """ST 5.4+: *.modules.* types, Pooling ``pooling_mode``."""
    MIXED = "mixed"
    """Evidence of both (a hand-edited or half-converted folder)."""
    PLAIN_TRANSFORMERS = "plain-transformers"
    """No modules.json: ST wraps the transformer in mean pooling."""
    UNKNOWN = "unknown"


class Namespace(ValueEnum):
    """Where a modules.json ``type`` lives."""

    LEGACY = "legacy"
    """sentence_transformers.models.* (ST 2.x-5.3)."""
    MODULAR = "modular"
    """sentence_transformers.<kind>.modules.* (5.4+)."""
    OTHER_ST = "other-st"
    """Another path inside sentence_transformers."""
    CUSTOM = "custom"
    """Code outside sentence_transformers."""


class WeightFormat(ValueEnum):
    """How a weights file is stored."""

    SAFETENSORS = "safetensors"
    PICKLE = "pickle"
    """A torch.save zip or raw pickle: never opened."""
    ONNX = "onnx"
    OPENVINO = "openvino"


class PoolingSchema(ValueEnum):
    """How a Pooling config stores its mode."""

    LEGACY_BOOLEANS = "legacy-booleans"
    MODULAR = "modular"


class MergesFormat(ValueEnum):
    """How tokenizer.json stores BPE merges."""

    STRINGS = "strings"
    """``"a b"``: read by every tokenizers release."""
    PAIRS = "pairs"
    """``["a", "b"]``: written and read from tokenizers 0.20."""


class StackSource(ValueEnum):
    """Where a target stack came from, which says whether a layer it lacks is really absent."""

    CURRENT = "current"
    """This interpreter's installed distributions."""
    INTERPRETER = "interpreter"
    """Another interpreter's installed distributions (--python)."""
    TARGET = "target"
    """Requirement specifiers (--target)."""
    REQUIREMENTS_FILE = "requirements-file"
    """A requirements file (-r)."""

    @property
    def installed(self) -> bool:
        """Whether the stack is an installed environment (an absent layer is known to be absent)."""
        return self in (StackSource.CURRENT, StackSource.INTERPRETER)


class Band(ValueEnum):
    """How far embeddings moved, from verify or compare."""

    IDENTICAL = "identical"
    NOISE = "noise"
    DRIFT = "drift"
    BROKEN = "broken"

    @property
    def acceptable(self) -> bool:
        """identical and noise pass; drift and broken do not."""
        return self in (Band.IDENTICAL, Band.NOISE)
