"""serve --backend onnx|openvino on tiny real fixtures: a real uvicorn server answering like model.encode.

The exports are made on the fly at start-up (into a cache folder) or by convert --to; admission is the
real measurement. A deliberately broken export (its graph lost the position embeddings, as an exporter
bug would) is refused with its figures. The demo model's servers are in test_backend_export_slow.py.
"""

from __future__ import annotations

import base64
import dataclasses
import shutil

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

from conftest import fixture_path  # noqa: E402
from serve_helpers import running  # noqa: E402

PROMPTS = fixture_path("6.2.0", "bert_prompts")
TRUNC = fixture_path("6.2.0", "bert_trunc")
PLAIN = fixture_path("6.2.0", "bert_plain")
TEXTS = ["The cat sits on the mat.", "A quick brown fox", "x", "Embeddings for search, ranked by cosine."]


def _config(backend, cache, *models, **kwargs):
    from stcompat.serve import Batching, ModelSpec, ServeConfig

    return ServeConfig(models=tuple(ModelSpec(n, str(p)) for n, p in models), port=0, backend=backend,
                       export_cache=str(cache), batching=Batching(max_batch=32, batch_size=8), **kwargs)


def _reference(path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


@pytest.mark.parametrize("backend,path,instances", [("onnx", PROMPTS, 1), ("openvino", TRUNC, 1), ("onnx", TRUNC, 2)],
                         ids=["onnx-prompts", "openvino-trunc", "onnx-trunc-2-worker-processes"])
def test_exported_backend_serves_what_encode_returns(backend, path, instances, tmp_path):
    """Saved prompts (a default one) and a saved truncate_dim apply around the graph as encode applies them; with
    two instances, in worker processes that load the admitted export without measuring it again."""
    from stcompat.serve import Batching, prepare

    lines: list[str] = []
    config = _config(backend, tmp_path / "cache", ("m", path))
    if instances > 1:
        config = dataclasses.replace(config, batching=Batching(max_batch=32, batch_size=8, instances=instances,
                                                               instance_mode="process",
                                                               threads=1))
    state = prepare(config, log=lines.append)
    assert sum("exporting it into" in line for line in lines) == 1  # made on the fly
    assert sum("admitted against torch" in line for line in lines) == 1
    want = _reference(path).encode(TEXTS)
    with running(state) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused")
        floats = client.embeddings.create(model="m", input=TEXTS)
        got = np.array([d.embedding for d in floats.data], dtype=np.float32)
        assert got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-5
        b64 = client.embeddings.create(model="m", input=TEXTS, encoding_format="base64")
        raw = np.stack([np.frombuffer(base64.b64decode(d.embedding), dtype=np.float32) for d in b64.data])
        assert float(np.abs(raw - want).max()) <= 1e-5
        model_info = httpx.get(f"{srv.url}/info").json()["models"]["m"]
    shown = model_info["backend"]
    # Forward batches go to the runtime (torch's packing would call the torch model the export stands in for),
    # which lays them out in packed rows for the export's packed graph.
    assert shown["batches"] == "direct" and shown["rows"] == "packed"
    assert shown["export"]["packed_graph"] in ("onnx/model_packed.onnx", "openvino/openvino_model_packed.xml")
    assert len(model_info["instance_processes"]) == (instances if instances > 1 else 0)
    assert shown["backend"] == backend and shown["dtype"] == "float32"
    assert shown["admission"]["admitted"] and shown["admission"]["top_k"] == 10
    assert shown["admission"]["topk_agreement"] == 1.0 and shown["admission"]["max_abs_diff"] <= 1e-5
    assert shown["export"]["exported_on_the_fly"] is True
    # A second start reuses the cached export, and admits it again from fresh figures.
    again: list[str] = []
    state = prepare(_config(backend, tmp_path / "cache", ("m", path)), log=again.append)
    assert not any("exporting it into" in line for line in again)
    assert state.models["m"].admitted.instances[0].admission.admitted


def test_a_convert_export_is_served_as_written(tmp_path):
    from stcompat.convert.export import export
    from stcompat.serve import prepare

    export(PROMPTS, tmp_path / "exported", "onnx")
    state = prepare(_config("onnx", tmp_path / "cache", ("m", tmp_path / "exported")))
    backend = state.models["m"].admitted.instances[0]
    assert backend.describe()["export"]["exported_on_the_fly"] is False
    assert not (tmp_path / "cache").exists()  # nothing exported: the folder already is one
    assert state.models["m"].admitted.admission.check.verdict.value == "ok"


def _lose_position_embeddings(folder):
    """Zero the position embeddings of every graph of the export (the padded one and the packed one)."""
    import onnx
    from onnx import numpy_helper

    paths = sorted((folder / "onnx").glob("*.onnx"))
    assert [p.name for p in paths] == ["model.onnx", "model_packed.onnx"]
    for path in paths:
        graph = onnx.load(str(path))
        for init in graph.graph.initializer:
            if init.name.endswith("position_embeddings.weight"):
                init.CopyFrom(numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(init)), init.name))
                break
        else:
            raise AssertionError("no position embeddings in the graph")
        onnx.save(graph, str(path))


def test_a_broken_export_is_refused_with_its_figures(tmp_path):
    from stcompat.convert.export import export
    from stcompat.errors import ServeRefused
    from stcompat.serve import prepare

    export(PLAIN, tmp_path / "good", "onnx")
    shutil.copytree(tmp_path / "good", tmp_path / "broken")
    _lose_position_embeddings(tmp_path / "broken")
    with pytest.raises(ServeRefused) as caught:
        prepare(_config("onnx", tmp_path / "cache", ("m", tmp_path / "broken")))
    assert caught.value.code == "STC854"
    assert "top-10 agreement" in caught.value.message and "threshold 0.99" in caught.value.message
    # Admission is the measurement, not the manifest: the broken copy still says admitted=true on disk.
    # The override does not let it through either (torch serves the same model correctly).
    with pytest.raises(ServeRefused):
        prepare(_config("onnx", tmp_path / "cache", ("m", tmp_path / "broken"), allow_unsafe=True))
    # A lower threshold is the operator's deliberate choice, and /info would show the figures it admitted.
    state = prepare(_config("onnx", tmp_path / "cache", ("m", tmp_path / "broken"), min_agreement=0.0))
    assert state.models["m"].admitted.instances[0].admission.topk_agreement < 0.99


def test_exported_backends_refuse_a_cross_encoder(tmp_path):
    from stcompat.errors import InputError
    from stcompat.serve import prepare

    with pytest.raises(InputError) as caught:
        prepare(_config("onnx", tmp_path / "cache", ("ce", fixture_path("6.2.0", "cross_encoder"))))
    assert "--backend torch" in caught.value.message


def test_bf16_is_an_openvino_precision_and_needs_a_cpu_that_has_it(tmp_path):
    from stcompat.convert.export_runtime import bf16_unsupported
    from stcompat.errors import InputError
    from stcompat.serve import prepare

    with pytest.raises(InputError, match="--precision bf16 runs an OpenVINO export") as caught:
        _config("onnx", tmp_path / "cache", ("m", PLAIN), precision="bf16")
    assert caught.value.code == "STC004"
    reason = bf16_unsupported()
    if reason is None:  # this CPU has native bf16: a tiny model is served in bf16, measured, and differs from fp32
        lines: list[str] = []
        state = prepare(_config("openvino", tmp_path / "cache", ("m", PLAIN), precision="bf16", min_agreement=0.0),
                        log=lines.append)
        want = _reference(PLAIN).encode(TEXTS)
        with running(state) as srv:
            got = np.array([d["embedding"] for d in httpx.post(f"{srv.url}/v1/embeddings",
                                                               json={"model": "m", "input": TEXTS}).json()["data"]])
            shown = httpx.get(f"{srv.url}/info").json()["models"]["m"]["backend"]
        assert float(np.abs(got - want).max()) > 1e-5  # computed in bf16, not silently in fp32
        assert shown["dtype"] == "bfloat16" and shown["precision"] == "bf16"
        assert shown["shape_buckets"] == {"batch": 8, "sequence": 8, "packed_rows": 4}  # bf16 hardly notices masked columns
        assert any("openvino_model_packed.xml, bf16) admitted against torch" in line for line in lines)
    else:  # no native bf16: refused before anything is exported, with the CPU's capabilities named
        with pytest.raises(InputError, match="no native bf16"):
            prepare(_config("openvino", tmp_path / "cache", ("m", PLAIN), precision="bf16"))


def test_an_exported_backend_never_runs_the_torch_model(tmp_path):
    """The export stands in for the Transformer's forward; the torch model it was exported from stays loaded
    beside it (the pipeline's other modules are torch). A hook on that torch model sees no call while serving."""
    from stcompat.serve import prepare

    state = prepare(_config("onnx", tmp_path / "cache", ("m", PLAIN)))
    backend = state.models["m"].admitted.instances[0]
    calls: list[int] = []
    torch_model = backend.loaded.st[0].model
    handle = torch_model.register_forward_hook(lambda *_: calls.append(1))
    try:
        with running(state) as srv:
            answer = httpx.post(f"{srv.url}/v1/embeddings", json={"model": "m", "input": TEXTS * 4})
        assert answer.status_code == 200 and len(answer.json()["data"]) == 16
    finally:
        handle.remove()
    assert calls == []
    # The same hook does see the torch backend's forward, packed or not: it would catch a call.
    torch_state = prepare(_config("torch", tmp_path / "cache", ("m", PLAIN)))
    torch_backend = torch_state.models["m"].admitted.instances[0]
    handle = torch_backend.loaded.st[0].model.register_forward_hook(lambda *_: calls.append(1))
    try:
        torch_backend.embed(TEXTS, None, 8)
    finally:
        handle.remove()
    assert calls
