"""PIN a model's embeddings: fingerprint a probe corpus, verify it elsewhere, compare two fingerprints.

Nothing heavy is imported here: numpy, torch and sentence_transformers load on first use, so
``import stcompat`` and ``stcompat inspect`` stay light.
"""

from .api import compare, embed_corpus, fingerprint, load_fingerprint, verify
from .corpus import Corpus, CorpusEntry, load_corpus
from .fileformat import FORMAT, EmbeddingSet, Fingerprint, read_fingerprint, write_fingerprint
from .verdict import BANDS, SCHEMA, Diagnosis, Report, Thresholds

__all__ = [
    "BANDS", "FORMAT", "SCHEMA", "Corpus", "CorpusEntry", "Diagnosis", "EmbeddingSet", "Fingerprint", "Report",
    "Thresholds", "compare", "embed_corpus", "fingerprint", "load_corpus", "load_fingerprint", "read_fingerprint",
    "verify", "write_fingerprint",
]
