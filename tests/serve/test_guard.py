"""The start-up guard: check and verify run before any traffic; refusals carry their code; the override
starts the model and says so in /info, in every response header and in the metrics.

Broken models are real edits of a real fixture: a fingerprint of bert_plain, then a copy with its
Normalize module removed from modules.json or its Pooling switched from mean to CLS (verify: broken);
a copy whose modules.json names a class the installed release cannot import, or whose 6.x
``requirements`` block the environment breaks (check: fails).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from conftest import fixture_path  # noqa: E402
from serve_helpers import running  # noqa: E402

from stcompat.errors import ServeRefused  # noqa: E402
from stcompat.serve import ModelSpec, ServeConfig, prepare  # noqa: E402

PLAIN = fixture_path("6.2.0", "bert_plain")


@pytest.fixture(scope="module")
def plain_fp(tmp_path_factory) -> Path:
    from stcompat.fingerprint import fingerprint

    out = tmp_path_factory.mktemp("fp") / "plain.fp"
    fingerprint(str(PLAIN), out, progress=False)
    return out


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data), indent=2))


def _drop_normalize(model: Path) -> None:
    _edit_json(model / "modules.json", lambda mods: [m for m in mods if not m["type"].endswith("Normalize")])


def _cls_pooling(model: Path) -> None:
    def edit(cfg):
        for key in list(cfg):
            if key.startswith("pooling_mode"):
                cfg[key] = False if isinstance(cfg[key], bool) else cfg[key]
        cfg["pooling_mode_cls_token"] = True
        if "pooling_mode" in cfg:
            cfg["pooling_mode"] = "cls"
        return cfg

    _edit_json(model / "1_Pooling" / "config.json", edit)


def _missing_class(model: Path) -> None:
    def edit(mods):
        mods[1]["type"] = "sentence_transformers.sentence_transformer.modules.pooling.NoSuchPooling"
        return mods

    _edit_json(model / "modules.json", edit)


def _unmet_requirements(model: Path) -> None:
    _edit_json(model / "config_sentence_transformers.json",
               lambda cfg: {**cfg, "requirements": {"sentence-transformers": ">=99.0"}})


@pytest.mark.parametrize("breaks", [_drop_normalize, _cls_pooling], ids=["normalize-removed", "pooling-cls"])
def test_broken_fingerprint_is_refused_with_stc851(copy_model, plain_fp, breaks):
    model = copy_model(PLAIN)
    breaks(model)
    config = ServeConfig(models=(ModelSpec("m", str(model), str(plain_fp)),), port=0)
    with pytest.raises(ServeRefused) as caught:
        prepare(config)
    assert caught.value.code == "STC851" and caught.value.model == "m"
    assert caught.value.reasons[0].startswith("verify: broken")
    assert "--allow-unsafe" in caught.value.message


def test_an_unusable_fingerprint_file_stops_before_any_model_loads(tmp_path):
    from stcompat.errors import FingerprintError

    bad = tmp_path / "bad.fp"
    bad.write_bytes(b"not a fingerprint")
    with pytest.raises(FingerprintError) as caught:
        prepare(ServeConfig(models=(ModelSpec("m", str(PLAIN), str(bad)),), port=0))
    assert caught.value.code == "STC601"


def test_intact_copy_passes_verify(copy_model, plain_fp):
    state = prepare(ServeConfig(models=(ModelSpec("m", str(copy_model(PLAIN)), str(plain_fp)),), port=0))
    admission = state.models["m"].admitted.admission
    assert admission.verify.verdict.value == "identical" and admission.overridden == ()


@pytest.mark.parametrize("breaks,finding", [(_missing_class, "STC101"), (_unmet_requirements, "STC113")],
                         ids=["class-missing", "requirements-unmet"])
def test_failing_check_is_refused_before_loading_and_the_override_cannot_load_it(copy_model, breaks, finding):
    model = copy_model(PLAIN)
    breaks(model)
    with pytest.raises(ServeRefused) as caught:
        prepare(ServeConfig(models=(ModelSpec("m", str(model)),), port=0))
    assert caught.value.code == "STC850" and caught.value.reasons[0].startswith("check: fails")
    assert any(r.startswith(finding) for r in caught.value.reasons)
    with pytest.raises(ServeRefused) as loaded:  # --allow-unsafe: it is tried, and the loader raises
        prepare(ServeConfig(models=(ModelSpec("m", str(model)),), port=0, allow_unsafe=True))
    assert loaded.value.code == "STC852" and finding in loaded.value.message


def test_the_override_serves_a_broken_model_and_reports_it_everywhere(copy_model, plain_fp):
    broken = copy_model(PLAIN, "broken")
    _drop_normalize(broken)
    config = ServeConfig(models=(ModelSpec("good", str(PLAIN)), ModelSpec("broken", str(broken), str(plain_fp))),
                         port=0, allow_unsafe=True)
    with running(prepare(config)) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        expected = "allow-unsafe; broken=STC851"
        responses = [http.get("/health/live"), http.get("/health/ready"), http.get("/v1/models"), http.get("/nope"),
                     http.post("/v1/embeddings", json={"model": "broken", "input": "a"}),
                     http.post("/v1/embeddings", json={"model": "good", "input": ""})]
        assert [r.status_code for r in responses] == [200, 200, 200, 404, 200, 400]
        assert all(r.headers.get("x-stcompat-override") == expected for r in responses)
        info = http.get("/info").json()
        assert info["override"] == {"allow_unsafe": True, "active": True, "header": expected}
        model = info["models"]["broken"]
        assert model["override"]["active"] and model["override"]["codes"] == ["STC851"]
        assert model["fingerprint"]["band"] == "broken" and model["fingerprint"]["metrics"]["min_cosine"] is not None
        assert any("Normalize" in d["message"] for d in model["fingerprint"]["diagnosis"])
        assert info["models"]["good"]["override"]["active"] is False
        metrics = http.get("/metrics").text
        assert 'stcompat_serve_unsafe_override{model="broken"} 1.0' in metrics
        assert 'stcompat_serve_unsafe_override{model="good"} 0.0' in metrics


def test_cli_prints_the_refusal_code_and_exits_2(copy_model):
    model = copy_model(PLAIN)
    _missing_class(model)
    exe = Path(sys.executable).with_name("stcompat")
    result = subprocess.run([str(exe), "serve", str(model), "--port", "0"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]  # after the guard's progress lines
    assert last.startswith("error[STC850]: model 'model'") and "STC101" in last and "--allow-unsafe" in last
    assert "Traceback" not in result.stderr


def test_cli_refuses_a_sparse_encoder_and_bad_options():
    exe = Path(sys.executable).with_name("stcompat")
    sparse = subprocess.run([str(exe), "serve", str(fixture_path("6.2.0", "sparse"))], capture_output=True,
                            text=True, timeout=120)
    assert sparse.returncode == 2 and sparse.stderr.strip().splitlines()[-1].startswith("error[STC853]")
    twice = subprocess.run([str(exe), "serve", f"a={PLAIN}", "--model", f"a={PLAIN}"], capture_output=True,
                           text=True, timeout=120)
    assert twice.returncode == 2 and twice.stderr.startswith("error[STC004]") and "given twice" in twice.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_the_command_stops_gracefully_on_a_signal_and_exits_0(sig):
    import signal
    import time

    exe = Path(sys.executable).with_name("stcompat")
    proc = subprocess.Popen([str(exe), "serve", str(PLAIN), "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any(line.startswith("listening on ") for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = lines[-1].split()[2]
        with httpx.Client(base_url=url, timeout=60) as c:
            assert c.post("/v1/embeddings", json={"input": "hello"}).status_code == 200  # the only model
        time.sleep(0.1)
        proc.send_signal(getattr(signal, sig))
        _, rest = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped: requests in flight finished" in rest
