"""convert --to onnx|openvino on tiny real fixtures: exported, admitted against torch, equal to encode.

Each export is real (torch.onnx.export, OpenVINO's converter) and each admission is the real
measurement (the probe corpus through the export vs through torch). The demo model's exports, int8
included, are in test_export_slow.py.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

from conftest import fixture_path  # noqa: E402
from stcompat.errors import ConvertError, InputError  # noqa: E402

export_module = importlib.import_module("stcompat.convert.export")
PROMPTS = fixture_path("6.2.0", "bert_prompts")  # saved prompts and a default prompt name
TRUNC = fixture_path("6.2.0", "bert_trunc")  # a saved truncate_dim (16)
TEXTS = ["The cat sits on the mat.", "A quick brown fox jumps over the lazy dog", "x",
         "Embeddings for search, ranked by cosine similarity between a query and many documents."]


def tree_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".stcompat-" in p.name or ".old-" in p.name)


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """bert_prompts exported to ONNX fp32, with the source's hashes before and after."""
    parent = tmp_path_factory.mktemp("export")
    before = tree_hashes(PROMPTS)
    result = export_module.export(PROMPTS, parent / "onnx", "onnx")
    return result, parent, before, tree_hashes(PROMPTS)


def _torch(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


def test_fp32_onnx_export_is_admitted_with_its_figures(onnx_export):
    result, parent, before, after = onnx_export
    out = parent / "onnx"
    m = result.manifest
    assert m.runtime == "onnx" and m.quantize is None and m.graph == "onnx/model.onnx"
    assert (out / m.graph).is_file() and set(m.inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    # The same forward on packed rows, beside it: what the runtime runs (and so what was admitted).
    assert m.packed_graph == "onnx/model_packed.onnx" and (out / m.packed_graph).is_file()
    assert m.packed_inputs == ("input_ids", "token_type_ids", "position_ids", "attention_mask")
    fig = result.admission
    assert fig.admitted and fig.top_k == 10 and fig.topk_agreement == 1.0 and fig.threshold == 0.99
    assert fig.max_abs_diff <= 1e-5 and fig.band in ("identical", "noise") and fig.rows >= 100
    written = json.loads((out / "stcompat-export.json").read_text())
    assert written["format"] == "stcompat.export/1" and written["admission"]["admitted"] is True
    assert written["source"]["sha256"] and written["exported_with"]["onnxruntime"]
    # A full sentence-transformers folder: every source file is there, byte for byte.
    copied = tree_hashes(out)
    assert all(copied[name] == digest for name, digest in before.items())
    assert before == after and leftovers(parent) == []


def test_fp32_onnx_export_encodes_like_torch_with_the_saved_prompts(onnx_export):
    from stcompat.convert.export_runtime import load_exported, read_manifest

    result, parent, _, _ = onnx_export
    out = parent / "onnx"
    manifest = read_manifest(out)
    reference = _torch(PROMPTS)
    assert reference.default_prompt_name  # the default prompt applies around the graph too
    # Packed rows (what serve runs), and the padded graph alone (an export written before packed graphs).
    for packed, rows in ((manifest.packed_graph, "packed"), (None, "padded")):
        exported, runtime = load_exported(out, manifest.graph, "onnx", packed=packed)
        assert runtime["runtime"] == "onnxruntime" and runtime["rows"] == rows
        for kwargs in ({}, {"prompt_name": "document"}, {"prompt": ""}):
            got = exported.st.encode(TEXTS, **kwargs)
            want = reference.encode(TEXTS, **kwargs)
            assert got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-5, (rows, kwargs)
        # The graph really runs: the torch weights of the exported copy are not what answers.
        assert type(exported.st[0].forward).__name__ == "RuntimeForward"


def test_packed_rows_hold_several_texts_in_few_shapes_and_each_text_keeps_its_vector(tmp_path):
    """The runtime lays a forward batch's texts end to end in rows of 32 tokens (as the torch backend does) and
    rounds the rows up as it rounds padded batches: OpenVINO meets a handful of shapes, texts share rows, a text
    longer than a row gets a row of its own length, and every vector is the one torch gives."""
    from stcompat.convert.export_runtime import load_exported

    result = export_module.export(TRUNC, tmp_path / "ov", "openvino")
    m = result.manifest
    assert m.packed_graph == "openvino/openvino_model_packed.xml" and result.admission.admitted
    exported, runtime = load_exported(tmp_path / "ov", m.graph, "openvino", packed=m.packed_graph)
    assert runtime["rows"] == "packed"
    forward = exported.st[0].forward
    real_runner, packer = forward._packed
    shapes, mask_shapes = [], []

    class Recording:  # the real packed runner, noting what it is given
        inputs = real_runner.inputs

        def __call__(self, feeds):
            shapes.append(feeds["input_ids"].shape)
            mask_shapes.append(feeds["attention_mask"].shape)
            return real_runner(feeds)

    forward._packed = (Recording(), packer)
    texts = [" ".join(["word"] * (1 + i % 7)) + f" {i}" for i in range(40)]
    want = _torch(TRUNC).encode(texts)
    for size in (1, 3, 8, 40):
        got = exported.st.encode(texts[:size], batch_size=size)
        assert got.shape == want[:size].shape and float(np.abs(got - want[:size]).max()) <= 1e-5
    assert {width for _, width in shapes} == {32}
    assert all(rows < size for (rows, _), size in zip(shapes[1:], (3, 8, 40)))  # texts share rows
    assert shapes[-1][0] % 4 == 0 and runtime["shape_buckets"]["packed_rows"] == 4  # from 4 rows on: 4n
    assert all(mask == (rows, 1, width, width) for mask, (rows, width) in zip(mask_shapes, shapes))
    long = "a long text " * 40
    got = exported.st.encode([long, "x"])
    assert float(np.abs(got - _torch(TRUNC).encode([long, "x"])).max()) <= 1e-5
    assert shapes[-1][1] > 32  # as wide as the longest text


def test_a_manifest_without_a_packed_graph_runs_padded_and_one_outside_the_folder_is_refused(onnx_export, tmp_path):
    from stcompat.convert.export_runtime import read_manifest

    result, parent, _, _ = onnx_export
    older = tmp_path / "older"
    shutil.copytree(parent / "onnx", older)
    path = older / "stcompat-export.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in raw.items() if not k.startswith("packed")}))
    manifest = read_manifest(older)
    assert manifest.packed_graph is None and manifest.packed_inputs == () and manifest.graph == "onnx/model.onnx"
    path.write_text(json.dumps({**raw, "packed_graph": "../elsewhere.onnx"}))
    with pytest.raises(InputError) as caught:
        read_manifest(older)
    assert caught.value.code == "STC004" and "outside the folder" in caught.value.message


def test_openvino_export_keeps_truncate_dim(tmp_path):
    from stcompat.convert.export_runtime import load_exported

    result = export_module.export(TRUNC, tmp_path / "ov", "openvino")
    assert result.admission.admitted and result.admission.max_abs_diff <= 1e-5
    assert (tmp_path / "ov" / "openvino" / "openvino_model.xml").is_file()
    assert (tmp_path / "ov" / "openvino" / "openvino_model.bin").is_file()
    exported, runtime = load_exported(tmp_path / "ov", result.manifest.graph, "openvino")
    got, want = exported.st.encode(TEXTS), _torch(TRUNC).encode(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 16)
    assert float(np.abs(got - want).max()) <= 1e-5 and runtime["runtime"] == "openvino"


def test_openvino_meets_a_bounded_set_of_shapes_and_each_text_keeps_its_vector(tmp_path):
    """OpenVINO keeps what it prepared per input shape: batches are rounded up (1, 2, 4, then multiples of 8 rows)
    before it runs them, and each text's vector is still the one torch gives it, whatever batch it came in."""
    from stcompat.convert.export_runtime import load_exported

    result = export_module.export(TRUNC, tmp_path / "ov", "openvino")
    # The padded graph alone (packed=None): what runs an export that has no packed graph.
    exported, runtime = load_exported(tmp_path / "ov", result.manifest.graph, "openvino")
    assert runtime["shape_buckets"] == {"batch": 8, "sequence": 1, "packed_rows": 4}  # fp32: sequence as it comes
    assert runtime["rows"] == "padded"
    forward = exported.st[0].forward
    real_runner, shapes = forward._runner, []

    class Recording:  # the real runner, noting the shapes it is given
        inputs = real_runner.inputs

        def __call__(self, feeds):
            shapes.append(next(iter(feeds.values())).shape)
            return real_runner(feeds)

    forward._runner = Recording()
    texts = [" ".join(["word"] * (1 + i % 7)) + f" {i}" for i in range(23)]
    want = _torch(TRUNC).encode(texts)
    for size in (1, 3, 8, 9, 23):
        got = exported.st.encode(texts[:size], batch_size=size)
        assert got.shape == want[:size].shape and float(np.abs(got - want[:size]).max()) <= 1e-5
    assert {rows for rows, _ in shapes} == {1, 3, 8, 16, 24}  # as they come below 8, multiples of 8 above


def test_shape_buckets_round_up_within_the_models_length():
    from stcompat.convert.export_runtime import ShapeBuckets

    ids = np.array([[101, 7, 8, 102], [101, 9, 102, 0], [101, 5, 102, 0]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    assert [ShapeBuckets(batch=8).rows_for(n) for n in (1, 2, 3, 5, 8, 9, 17, 32)] == [1, 2, 3, 5, 8, 16, 24, 32]
    # Packed rows: as they come below 8 too (a lone request's), multiples of 4 from there.
    assert [ShapeBuckets(batch=8).rows_for(n, 4) for n in (1, 5, 7, 8, 9, 13)] == [1, 5, 7, 8, 12, 16]
    buckets = ShapeBuckets(batch=2, sequence=8, max_length=16, pad_id=0)
    feeds, rows, columns = buckets.pad({"input_ids": ids, "attention_mask": mask})
    assert (rows, columns) == (3, 4) and feeds["input_ids"].shape == feeds["attention_mask"].shape == (4, 8)
    assert (feeds["input_ids"][:3, :4] == ids).all() and not feeds["attention_mask"][:3, 4:].any()
    # The extra row is a copy of a real input (never a row that is all padding).
    assert (feeds["input_ids"][3, :4] == ids[0]).all() and (feeds["attention_mask"][3, :4] == mask[0]).all()
    # Rounding never makes a sequence longer than the model reads (positions past it may not exist).
    long = np.ones((1, 15), dtype=np.int64)
    feeds, _, _ = ShapeBuckets(batch=1, sequence=8, max_length=15).pad({"input_ids": long})
    assert feeds["input_ids"].shape == (1, 15)
    assert ShapeBuckets().pad({"input_ids": ids})[0]["input_ids"] is ids  # no buckets: the feeds as they came


def test_an_export_whose_pooling_differs_is_refused_by_admission(onnx_export, tmp_path):
    """The same graph in a folder whose Pooling says CLS: measured against the source's torch model."""
    from stcompat.convert.export_admit import admit, reference_fingerprint
    from stcompat.convert.export_runtime import load_exported
    from stcompat.fingerprint.embed import load_model

    result, parent, _, _ = onnx_export
    broken = tmp_path / "cls"
    shutil.copytree(parent / "onnx", broken)
    config = broken / "1_Pooling" / "config.json"
    pooling = json.loads(config.read_text())
    assert pooling["pooling_mode"] == "mean"
    config.write_text(json.dumps({**pooling, "pooling_mode": "cls"}))
    reference = reference_fingerprint(load_model(PROMPTS))
    figures, report = admit(reference, load_exported(broken, result.manifest.graph, "onnx")[0])
    assert not figures.admitted and figures.topk_agreement < 0.99 and figures.min_cosine < 0.99
    assert report.verdict.value in ("drift", "broken")


def test_an_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
    before = tree_hashes(PROMPTS)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args[0])
        assert (Path(args[0]) / "onnx" / "model.onnx").is_file()  # the graph was written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "load_exported", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_module.export(PROMPTS, tmp_path / "out", "onnx")
    assert calls and not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    assert tree_hashes(PROMPTS) == before


def test_refusals_before_any_work(tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConvertError) as caught:
        export_module.export(PROMPTS, tmp_path / "exists", "onnx")
    assert caught.value.code == "STC755"
    for variant in ("static", "cross_encoder"):
        with pytest.raises(ConvertError) as caught:
            export_module.export(fixture_path("6.2.0", variant), tmp_path / variant, "onnx")
        assert caught.value.code == "STC762", variant
        assert not (tmp_path / variant).exists()
    with pytest.raises(InputError):
        export_module.export(PROMPTS, tmp_path / "x", "onnx", min_agreement=1.5)
    with pytest.raises(InputError):
        export_module.export(PROMPTS, PROMPTS / "inside", "onnx")
    assert leftovers(tmp_path) == []


def test_cli_option_errors(tmp_path):
    exe = [sys.executable, "-m", "stcompat.cli", "convert", str(PROMPTS)]
    neither = subprocess.run([*exe, "-o", str(tmp_path / "a")], capture_output=True, text=True)
    assert neither.returncode == 2 and "error[STC004]" in neither.stderr and "--to" in neither.stderr
    both = subprocess.run([*exe, "-o", str(tmp_path / "a"), "--to", "onnx", "--target", "sentence-transformers==2.2.2"],
                          capture_output=True, text=True)
    assert both.returncode == 2 and "error[STC004]" in both.stderr


@pytest.mark.slow  # the same export as the module fixture's, through a subprocess: ~20 s of imports and export
def test_cli_export_prints_its_figures(tmp_path):
    exe = [sys.executable, "-m", "stcompat.cli", "convert", str(PROMPTS)]
    done = subprocess.run([*exe, "-o", str(tmp_path / "b"), "--to", "onnx", "--format", "json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["runtime"] == "onnx" and body["admission"]["admitted"] and body["admission"]["top_k"] == 10
    assert (tmp_path / "b" / "onnx" / "model.onnx").is_file() and "admission: top-10 agreement" in done.stderr
    assert body["packed_graph"] == "onnx/model_packed.onnx" and "position_ids" in body["packed_inputs"]
    assert (tmp_path / "b" / body["packed_graph"]).is_file()


def test_a_model_packing_declines_is_exported_padded_only_and_says_why(tmp_path):
    """A tiny random ModernBERT with local attention (packed rows would widen its window: test_packing.py) in a
    real saved pipeline: the export has no packed graph, its manifest says why, and it encodes like torch."""
    from conftest import tiny_modernbert

    from stcompat.convert.export_runtime import load_exported

    st = _torch(fixture_path("6.2.0", "bert_plain"))
    tiny_modernbert(st)
    st.save(str(tmp_path / "modernbert"))
    lines = []
    result = export_module.export(tmp_path / "modernbert", tmp_path / "out", "onnx", log=lines.append)
    m = result.manifest
    assert m.packed_graph is None and m.packed_inputs == () and "cannot run on packed rows" in m.extra["packed"]
    assert not any("packed rows" in line for line in lines) and result.admission.admitted
    assert sorted(p.name for p in (tmp_path / "out" / "onnx").iterdir()) == ["model.onnx"]
    exported, runtime = load_exported(tmp_path / "out", m.graph, "onnx", packed=m.packed_graph)
    texts = ["hi there", "The cat sits on the mat, and the dog lies by the door all afternoon."]
    assert runtime["rows"] == "padded"
    reference = _torch(tmp_path / "modernbert")
    assert float(np.abs(exported.st.encode(texts) - reference.encode(texts)).max()) <= 1e-5


def test_a_packed_graph_that_differs_from_the_padded_one_is_not_kept(tmp_path, monkeypatch):
    """RoBERTa numbers positions from padding_idx + 1; a packing that numbered them from 0 (patched in here, at
    export and at run time alike) gives a packed graph whose vectors differ from the padded graph's. The export
    drops it, says why, and is admitted on the padded graph, which still equals torch."""
    from stcompat.convert.export_runtime import load_exported
    from stcompat.convert.packing import PackedTransformer

    source = fixture_path("6.2.0", "roberta_plain")
    numbered = PackedTransformer.__init__

    def from_zero(self, *args, **kwargs):
        numbered(self, *args, **kwargs)
        self._first_position = 0

    monkeypatch.setattr(PackedTransformer, "__init__", from_zero)
    lines = []
    result = export_module.export(source, tmp_path / "out", "onnx", log=lines.append)
    m = result.manifest
    assert m.packed_graph is None and m.extra["packed"].startswith("not kept: packed rows gave max |diff|")
    assert any(line.startswith("packed graph not kept") for line in lines)
    assert sorted(p.name for p in (tmp_path / "out" / "onnx").iterdir()) == ["model.onnx"]
    assert result.admission.admitted and result.admission.max_abs_diff <= 1e-5
    monkeypatch.setattr(PackedTransformer, "__init__", numbered)
    exported, runtime = load_exported(tmp_path / "out", m.graph, "onnx", packed=m.packed_graph)
    assert runtime["rows"] == "padded"
    assert float(np.abs(exported.st.encode(TEXTS) - _torch(source).encode(TEXTS)).max()) <= 1e-5


def test_a_graph_the_runtime_cannot_run_is_one_line_stc763(tmp_path):
    """A float16 model's graph exports but onnxruntime rejects it when run: STC763 with the runtime's first line,
    nothing written (before, a long onnxruntime traceback)."""
    with pytest.raises(ConvertError) as caught:
        export_module.export(fixture_path("6.2.0", "bert_fp16"), tmp_path / "out", "onnx")
    assert caught.value.code == "STC763" and "\n" not in caught.value.message
    assert "onnx/model.onnx does not run: " in caught.value.message and "ONNXRuntimeError" in caught.value.message
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_a_packed_forward_the_exporter_cannot_trace_leaves_the_padded_graph_alone(tmp_path):
    """A tiny random DeBERTa-v2 takes position_ids (so packing accepts it) but its attention cannot take a 4D
    mask: tracing the packed forward fails. The export goes on padded only, says why, and is admitted."""
    import torch
    from transformers import DebertaV2Config, DebertaV2Model

    st = _torch(fixture_path("6.2.0", "bert_plain"))
    torch.manual_seed(0)
    st[0].model = DebertaV2Model(DebertaV2Config(vocab_size=st.tokenizer.vocab_size, hidden_size=32,
                                                 intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                                 max_position_embeddings=512, pad_token_id=0)).eval()
    st.save(str(tmp_path / "deberta"))
    lines = []
    result = export_module.export(tmp_path / "deberta", tmp_path / "out", "onnx", log=lines.append)
    m = result.manifest
    assert m.packed_graph is None and m.extra["packed"].startswith("not exported: torch.onnx.export of the packed")
    assert any(line.startswith("no packed graph: ") for line in lines) and result.admission.admitted
    assert sorted(p.name for p in (tmp_path / "out" / "onnx").iterdir()) == ["model.onnx"]
