"""Runs INSIDE a target environment: load one model, record what happened, embed a fixed probe set.

    python probe_script.py [--loader KIND] MODEL_DIR OUT_JSON
    python probe_script.py [--loader KIND] --batch OUT_JSON MODEL_DIR...   (one process, many models)

KIND is the class the model is loaded with: sentence-transformer (default: ``SentenceTransformer(path)``,
``encode`` of the probe texts), cross-encoder (``CrossEncoder(path)``, ``predict`` of the probe pairs:
one row of scores) or sparse-encoder (``SparseEncoder(path)``, ``encode`` made dense).

Standard library + the environment's own sentence-transformers (and numpy) only: this file is
copied to and run by interpreters of any release from 2.0 on, so it must not import stcompat.
It never writes into the model folder; its only output is OUT_JSON.
"""

import json
import logging
import os
import sys
import time
import traceback
import warnings

PROBE_TEXTS = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The new movie is awesome!",
    "Two dogs play in the snow.",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "def add(a, b): return a + b",
    " ".join(["long input that goes well past the maximum sequence length of small models"] * 12),
]
# Query/passage pairs a CrossEncoder scores (related and unrelated ones).
PROBE_PAIRS = [
    (PROBE_TEXTS[4], PROBE_TEXTS[5]),
    (PROBE_TEXTS[4], PROBE_TEXTS[3]),
    (PROBE_TEXTS[0], PROBE_TEXTS[1]),
    (PROBE_TEXTS[2], PROBE_TEXTS[6]),
    (PROBE_TEXTS[3], PROBE_TEXTS[7]),
]
LOADERS = {"sentence-transformer": "SentenceTransformer", "cross-encoder": "CrossEncoder",
           "sparse-encoder": "SparseEncoder"}
LAYERS = ("sentence-transformers", "transformers", "tokenizers", "torch", "huggingface-hub", "numpy", "safetensors")


def _versions():
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return {}
    found = {"python": sys.version.split()[0]}
    for name in LAYERS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        try:
            self.records.append({"logger": record.name, "level": record.levelname,
                                 "message": record.getMessage().strip()})
        except Exception:  # a broken log call must not break the probe
            pass


def _load_and_run(loader, model_dir, out):
    """Load with the loader's class, fill ``out``'s effective settings; return the probe's output rows."""
    namespace = {}
    # The user's own import statement, so that a release without the class raises Python's own words.
    exec("from sentence_transformers import %s as loader_class" % LOADERS[loader], namespace)
    model = namespace["loader_class"](model_dir, device="cpu")
    out["loaded"] = True
    out["load_seconds"] = round(time.time() - out["_started"], 3)
    effective = {
        "prompts": dict(getattr(model, "prompts", None) or {}),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
        "similarity_fn_name": _attr(model, "similarity_fn_name"),
        "truncate_dim": getattr(model, "truncate_dim", None),
        "max_seq_length": _attr(model, "max_seq_length"),
    }
    try:
        effective["modules"] = [type(m).__module__ + "." + type(m).__name__ for m in model]
    except TypeError:  # a CrossEncoder before 6.0 is not a sequence of modules
        effective["modules"] = [type(model.model).__module__ + "." + type(model.model).__name__]
    out["effective"] = effective
    if loader == "cross-encoder":
        activation = _attr(model, "activation_fn")
        if activation is None:
            activation = _attr(model, "default_activation_function")
        effective["activation"] = None if activation is None else type(activation).__module__ + "." + \
            type(activation).__name__
        effective["max_length"] = _attr(model, "max_length")
        scores = model.predict(PROBE_PAIRS, batch_size=8, convert_to_numpy=True)
        return [[float(x) for x in scores.reshape(-1)]]  # one row: every pair's scores
    if loader == "sparse-encoder":
        rows = model.encode(PROBE_TEXTS, batch_size=8, convert_to_tensor=True)
        rows = rows.to_dense().cpu().numpy()
    else:
        rows = model.encode(PROBE_TEXTS, convert_to_numpy=True, batch_size=8)
    return rows


def probe(model_dir, loader="sentence-transformer"):
    out = {"versions": _versions(), "loaded": False, "error": None, "warnings": []}
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    started = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["_started"] = started
        try:
            rows = _load_and_run(loader, model_dir, out)
            out["dimension"] = len(rows[0])
            out["embeddings"] = [[float(x) for x in row] for row in rows]
            out["encode_seconds"] = round(time.time() - started - out["load_seconds"], 3)
        except BaseException as exc:  # record everything, including SystemExit from odd code
            out["error"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback_tail": traceback.format_exc().strip().splitlines()[-12:],
            }
    out.pop("_started", None)
    logging.getLogger().removeHandler(handler)
    out["warnings"] = handler.records + [
        {"logger": "warnings", "level": w.category.__name__, "message": str(w.message).strip()} for w in caught
        if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    return out


def _attr(model, name):
    try:
        return getattr(model, name)
    except Exception:
        return None


def main():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = sys.argv[1:]
    loader = "sentence-transformer"
    if args[0] == "--loader":
        loader, args = args[1], args[2:]
    if args[0] == "--batch":
        out_path, models = args[1], args[2:]
        result = {"results": [probe(model, loader) for model in models]}
    else:
        model_dir, out_path = args[0], args[1]
        result = probe(model_dir, loader)
    with open(out_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
