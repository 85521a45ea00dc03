"""Run probe_script.py in one interpreter, as a subprocess with a timeout, offline, in a scratch folder.

Both executors call this: the local one on this machine, the Ray one inside a task on a worker node.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

PROBE = Path(__file__).with_name("probe_script.py")


def _probe(python: str, model: str | Sequence[str], timeout: float,
           loader: str = "sentence-transformer") -> tuple[Any, float]:
    """Run the probe on one model (a dict back) or, batched, on many in one process (a list back).

    ``loader``: the class the model is loaded with (probe_script.LOADERS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1")
    with tempfile.TemporaryDirectory(prefix="stcompat-probe-") as scratch:
        out = Path(scratch) / "out.json"
        started = time.time()
        try:
            args = [model, str(out)] if isinstance(model, str) else ["--batch", str(out), *model]
            args = ["--loader", loader, *args]
            # stdin is /dev/null, as in a service or CI job: a loader that prompts (transformers asks before
            # running a model's remote code) reads end-of-file instead of waiting for a terminal.
            proc = subprocess.run([python, str(PROBE), *args], cwd=scratch, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": {"type": "Timeout", "message": f"probe ran past {timeout:.0f} s",
                              "traceback_tail": []}}, time.time() - started
        elapsed = time.time() - started
        if not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
            return {"error": {"type": "ProbeCrashed", "message": tail[-1] if tail else f"exit {proc.returncode}",
                              "traceback_tail": tail}}, elapsed
        document = json.loads(out.read_text())
        return (document["results"] if not isinstance(model, str) else document), elapsed
