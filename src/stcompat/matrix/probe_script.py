"""Runs INSIDE a target environment: load one model, record what happened, embed a fixed probe set.

    python probe_script.py MODEL_DIR OUT_JSON
    python probe_script.py --batch OUT_JSON MODEL_DIR...   (one process, many models: {"results": [...]})

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


def probe(model_dir):
    out = {"versions": _versions(), "loaded": False, "error": None, "warnings": []}
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    started = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(model_dir, device="cpu")
            out["loaded"] = True
            out["load_seconds"] = round(time.time() - started, 3)
            out["effective"] = {
                "prompts": dict(getattr(model, "prompts", None) or {}),
                "default_prompt_name": getattr(model, "default_prompt_name", None),
                "similarity_fn_name": _attr(model, "similarity_fn_name"),
                "truncate_dim": getattr(model, "truncate_dim", None),
                "max_seq_length": getattr(model, "max_seq_length", None),
                "modules": [type(m).__module__ + "." + type(m).__name__ for m in model],
            }
            embeddings = model.encode(PROBE_TEXTS, convert_to_numpy=True, batch_size=8)
            out["dimension"] = int(embeddings.shape[-1])
            out["embeddings"] = [[float(x) for x in row] for row in embeddings]
            out["encode_seconds"] = round(time.time() - started - out["load_seconds"], 3)
        except BaseException as exc:  # record everything, including SystemExit from odd code
            out["error"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback_tail": traceback.format_exc().strip().splitlines()[-12:],
            }
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
    if sys.argv[1] == "--batch":
        out_path, models = sys.argv[2], sys.argv[3:]
        result = {"results": [probe(model) for model in models]}
    else:
        model_dir, out_path = sys.argv[1], sys.argv[2]
        result = probe(model_dir)
    with open(out_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
