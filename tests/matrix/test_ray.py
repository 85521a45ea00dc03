"""matrix --executor ray: folders as Ray objects, the size choice, the missing-Ray error (default suite),
and, against a real local Ray instance, the same cells as the local executor and a killed worker (slow)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from conftest import fixture_path
from stcompat.errors import ExecutorError
from stcompat.model.folder import Target, targets_for
from stcompat.matrix.ray_executor import RayExecutor, parse_size
from stcompat.matrix.runner import run_matrix
from stcompat.matrix.shipping import materialise, pack, plan_transfers, rewrite_paths


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray instance with 2 CPUs (this machine's), shared by the tests of this module.
    (Only these tests need Ray installed; the size choice and the missing-Ray error run without it.)"""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def _tree(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file, and "dir" for every folder (symlinks followed)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _cache_snapshot(tmp_path: Path, source: Path) -> Path:
    """A Hugging Face cache layout of ``source``: snapshot files are links into blobs/, plus one link
    that escapes the repo's folder (never read, never shipped)."""
    repo = tmp_path / "hub" / "models--org--tiny"
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir():
            (snapshot / rel).mkdir(parents=True, exist_ok=True)
            continue
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.write_bytes(path.read_bytes())
        (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / rel).symlink_to(os.path.relpath(blob, (snapshot / rel).parent))
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the model")
    (snapshot / "escape.txt").symlink_to(secret)
    return snapshot


def test_a_folder_travels_as_a_ray_object_and_is_rebuilt_on_the_worker(ray_local, tmp_path):
    source = fixture_path("2.2.2", "bert_plain")  # holds an empty 2_Normalize/ (ST saves it so; conftest restores it)
    snapshot = _cache_snapshot(tmp_path, source)
    (target,) = targets_for(str(snapshot))
    packed = pack(target)
    assert packed.name == "0123abcd" and packed.origin == str(snapshot)
    assert "escape.txt" not in dict(packed.files) and "2_Normalize" in packed.folders

    ref = ray_local.put(packed)
    copies = tmp_path / "copies"
    copy = Path(ray_local.get(ray_local.remote(materialise).remote(ref, copies)))
    assert copy == copies / packed.digest / "0123abcd"
    assert _tree(copy) == _tree(source)  # every file byte for byte, the empty folder too
    assert not any(p.is_symlink() for p in copy.rglob("*"))  # the blobs' content, not links
    assert not (copy / "escape.txt").exists()

    # A second cell of the same model on the node reuses the copy; another name is another copy.
    stamp = (copy / "config.json").stat().st_mtime_ns
    assert ray_local.get(ray_local.remote(materialise).remote(ref, copies)) == copy
    assert (copy / "config.json").stat().st_mtime_ns == stamp
    renamed = pack(Target(source, source))
    assert renamed.digest != packed.digest and renamed.name == "bert_plain"


def test_models_travel_by_size(tmp_path):
    small = Target(fixture_path("6.2.0", "bert_plain"), fixture_path("6.2.0", "bert_plain"))
    (plan,) = plan_transfers([small], shared_paths=())
    assert not plan.shared and 0 < plan.size < 10 * 2**20
    # Over the limit: read in place when it lies under a shared path, refused (STC703) otherwise.
    (plan,) = plan_transfers([small], shared_paths=[fixture_path("6.2.0", "bert_plain").parent.parent],
                             limit=plan.size - 1)
    assert plan.shared
    with pytest.raises(ExecutorError) as refused:
        plan_transfers([small], shared_paths=[tmp_path], limit=1024)
    assert refused.value.code == "STC703" and "--shared-path" in refused.value.message
    assert str(small.root) in refused.value.message


def test_paths_of_a_worker_copy_read_as_the_driver_s():
    result = {"error": {"type": "OSError", "message": "no file in /copies/ab12/model.",
                        "traceback_tail": ["  File /copies/ab12/model/x.py", "ok"]}, "dimension": 8}
    back = rewrite_paths(result, {"/copies/ab12/model": "/home/me/model"})
    assert back == {"error": {"type": "OSError", "message": "no file in /home/me/model.",
                              "traceback_tail": ["  File /home/me/model/x.py", "ok"]}, "dimension": 8}


def test_sizes_for_memory_per_cell():
    assert parse_size("4GiB") == 4 * 2**30 and parse_size("512MiB") == 512 * 2**20
    assert parse_size("2G") == 2_000_000_000 and parse_size("1500000") == 1_500_000
    with pytest.raises(ValueError):
        parse_size("lots")


def test_an_environment_that_cannot_be_built_is_env_error_on_both_executors(ray_local, tmp_path):
    # A torch that does not exist, offline, in an empty cache: uv fails at once (no probe, no download);
    # the Ray task hits the same failure on its node and the runner makes the same cells of it.
    models = [fixture_path("6.2.0", "bert_plain"), fixture_path("2.7.0", "bert_prompts")]
    runs = {}
    for name, executor in (("local", None), ("ray", RayExecutor())):
        ticks: list[str] = []
        runs[name] = (run_matrix(models, ["6.2.0"], reference="6.2.0", offline=True, torch="torch==0.0.0",
                                 cache_dir=tmp_path / name, on_progress=ticks.append, executor=executor), ticks)
    (local, local_ticks), (remote, remote_ticks) = runs["local"], runs["ray"]
    assert [c.outcome for c in remote.cells] == ["env-error", "env-error"]
    assert remote.cells[0].error["type"] == "EnvBuildError" and "torch install failed" in remote.cells[0].reasons[0]
    assert [_comparable(c) for c in local.cells] == [_comparable(c) for c in remote.cells]
    assert local_ticks[0] == remote_ticks[0] == "env 6.2.0" and sorted(local_ticks) == sorted(remote_ticks)


def _cli(*args: str, block_ray: bool = False) -> subprocess.CompletedProcess:
    # sys.modules["ray"] = None makes `import ray` raise ImportError, as in an install without the extra.
    code = ("import sys\n" + ("sys.modules['ray'] = None\n" if block_ray else "") +
            "from stcompat.cli import main\nmain()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120)


def test_without_ray_the_ray_executor_is_one_line_error():
    model = str(fixture_path("6.2.0", "bert_plain"))
    result = _cli("matrix", model, "--st", "6.2.0", "--executor", "ray", block_ray=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error[STC702]: ") and result.stderr.count("\n") == 1, result.stderr
    assert 'pip install "stcompat[ray]"' in result.stderr


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_cluster_is_one_line_error_at_once(scheme):
    """Nothing listens at the address: STC704 in seconds, not Ray's minutes of retries and its own log lines
    (a GCS address was retried for over 200 s here before this check), whether named by --address or RAY_ADDRESS."""
    pytest.importorskip("ray")
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = str(fixture_path("6.2.0", "bert_plain"))
    began = time.monotonic()
    result = _cli("matrix", model, "--st", "6.2.0", "--executor", "ray", "--address", f"{scheme}127.0.0.1:{port}")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error[STC704]: cannot reach Ray at {scheme}127.0.0.1:{port}: ")
    assert result.stderr.count("\n") == 1, result.stderr
    os.environ["RAY_ADDRESS"] = f"{scheme}127.0.0.1:{port}"
    try:
        from_env = _cli("matrix", model, "--st", "6.2.0", "--executor", "ray")
    finally:
        del os.environ["RAY_ADDRESS"]
    assert from_env.returncode == 2 and from_env.stderr.startswith("error[STC704]: ")
    assert time.monotonic() - began < 60


def test_ray_options_need_the_ray_executor():
    model = str(fixture_path("6.2.0", "bert_plain"))
    result = _cli("matrix", model, "--st", "6.2.0", "--cpus-per-cell", "2")
    assert result.returncode == 2 and result.stderr.startswith("error[STC004]: --cpus-per-cell only apply")
    result = _cli("matrix", model, "--st", "6.2.0", "--executor", "ray", "--memory-per-cell", "lots")
    assert result.returncode == 2 and result.stderr.startswith("error[STC004]: --memory-per-cell: not a size")


# --- real cells on a real local Ray instance (slow) ----------------------------------------------


def _comparable(cell) -> dict:
    item = asdict(cell)
    item.pop("seconds")  # wall time: the only thing allowed to differ
    return item


@pytest.mark.slow
def test_ray_gives_the_same_cells_as_the_local_executor(ray_local, copy_model):
    from stcompat.report.formats import render

    missing = copy_model(fixture_path("6.2.0", "bert_plain"), "no_weights")
    (missing / "model.safetensors").unlink()  # the loader's error names the folder: the copy's path must not leak
    models = [fixture_path("2.7.0", "bert_prompts"), fixture_path("6.2.0", "bert_plain"),
              fixture_path("3.4.1", "roberta_plain"), missing]
    ticks: dict[str, list[str]] = {"local": [], "ray": []}
    local = run_matrix(models, ["2.7.0", "6.2.0"], jobs=2, timeout=300, on_progress=ticks["local"].append)
    remote = run_matrix(models, ["2.7.0", "6.2.0"], jobs=2, timeout=300, on_progress=ticks["ray"].append,
                        executor=RayExecutor())
    assert local.releases == remote.releases == ("current", "2.7.0", "6.2.0")
    assert len(local.cells) == len(remote.cells) == 12
    for mine, theirs in zip(local.cells, remote.cells):
        assert _comparable(mine) == _comparable(theirs), (mine.model, mine.release)
    outcomes = {(Path(c.model).name, c.release): c for c in remote.cells}
    assert outcomes[("bert_plain", "2.7.0")].outcome == "fails"  # the comparison covers a failure...
    assert outcomes[("bert_prompts", "2.7.0")].outcome == "ok"  # ...and differences measured in a real env
    assert outcomes[("bert_prompts", "2.7.0")].max_abs_diff is not None
    assert str(missing) in outcomes[("no_weights", "current")].error["message"]
    # The same progress ticks (in another order: cells stream back as they finish).
    assert sorted(ticks["local"]) == sorted(ticks["ray"])
    for fmt in ("table", "html"):
        assert render("matrix", fmt, local) == render("matrix", fmt, remote), fmt

    def document(result):
        data = json.loads(render("matrix", "json", result))
        for cell in data["cells"]:
            cell.pop("seconds")
        return data

    assert document(local) == document(remote)


def _ray_worker_of_probe(name: str) -> tuple[int, int] | None:
    """(probe pid, its parent's pid) for a running probe of a folder called ``name`` whose parent is a
    Ray worker process; None when there is none."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(a.endswith(b"probe_script.py") for a in argv) or not any(
                    a.rstrip(b"/").endswith(b"/" + name.encode()) for a in argv):
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if b"ray::" in Path(f"/proc/{parent}/cmdline").read_bytes():
                return int(entry.name), parent
        except (OSError, ValueError, IndexError):
            continue
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kills", [1, 2])
def test_a_killed_worker_is_retried_once_then_env_error(ray_local, copy_model, kills):
    victim = copy_model(fixture_path("6.2.0", "bert_plain"), f"victim{kills}")
    bystander = fixture_path("2.7.0", "bert_prompts")
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:  # SIGKILL the Ray worker running the victim's probe, ``kills`` times
        seen: set[int] = set()
        while not stop.is_set() and len(killed) < kills:
            found = _ray_worker_of_probe(victim.name)
            if found and found[0] not in seen:
                seen.add(found[0])
                os.kill(found[1], signal.SIGKILL)
                killed.append(found[1])
                os.kill(found[0], signal.SIGKILL)  # its probe would otherwise run on as an orphan
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    lines: list[str] = []
    try:
        result = run_matrix([victim, bystander], [], timeout=300, executor=RayExecutor(log=lines.append))
    finally:
        stop.set()
        thread.join()
    assert len(killed) == kills
    cells = {Path(c.model).name: c for c in result.cells}
    assert cells["bert_prompts"].outcome == "ok"  # the other cell never noticed
    assert any(line.startswith(f"victim{kills} @ current: ") and "retrying once" in line for line in lines), lines
    victim_cell = cells[f"victim{kills}"]
    if kills == 1:  # the retry ran the cell to the end, as the local executor would have
        assert victim_cell.outcome == "ok" and victim_cell.error is None and victim_cell.dimension
    else:
        assert victim_cell.outcome == "env-error"
        assert victim_cell.reasons[0].startswith("Ray lost this cell twice: ")
        assert "Error" in victim_cell.error["type"]
