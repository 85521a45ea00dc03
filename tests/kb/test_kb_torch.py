"""kb/data/torch.json and the torch_facts extractor (offline: the bundled data and the installed torch's files,
read as text; torch is not imported)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path

import pytest

from stcompat.kbbuild import torch_facts

DATA = json.loads(torch_facts.OUTPUT.read_text(encoding="utf-8"))
ROWS = {row["version"]: row for row in DATA["releases"]}


def _torch_dir() -> Path:
    spec = importlib.util.find_spec("torch")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _installed_version() -> str:
    return importlib.metadata.version("torch").split("+", 1)[0]


def test_document_shape():
    assert DATA["schema"] == "stcompat.kb.torch/1"
    assert DATA["package"] == "torch"
    assert DATA["safetensors_dtypes"] == torch_facts.SAFETENSORS_TO_TORCH
    versions = [row["version"] for row in DATA["releases"]]
    assert versions[0] == "2.0.0"
    assert versions == sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
    for row in DATA["releases"]:
        assert row["artifact"]["filename"].startswith(f"torch-{row['version']}-")
        assert "manylinux" in row["artifact"]["filename"] and len(row["artifact"]["sha256"]) == 64
        assert row["members"][:2] == [torch_facts.PYI, torch_facts.SERIALIZATION]


def test_installed_release_matches_its_files():
    root = _torch_dir()
    row = ROWS.get(_installed_version())
    assert row is not None, f"no row for the installed torch {_installed_version()}"
    pyi = (root / "_C" / "__init__.pyi").read_text(encoding="utf-8")
    declared = sorted({line.split(":", 1)[0] for line in pyi.splitlines()
                       if line[:1].isalpha() and line.replace(" ", "").split(":", 1)[-1].startswith("dtype=")})
    assert row["dtypes"] == declared
    assert row["weights_only_default"] is True
    source = (root / "serialization.py").read_text(encoding="utf-8")
    assert torch_facts.weights_only_default(source) is True
    assert torch_facts.weights_only_env(source) == row["weights_only_env"]
    header = root / "include" / "torch" / "headeronly" / "core" / "ScalarType.h"
    if header.is_file():
        assert torch_facts.scalar_types(header.read_text(encoding="utf-8")) == row["scalar_types"]


SOURCE_25 = '''
import os
from typing import Optional

def load(f, map_location=None, pickle_module=None, *, weights_only: Optional[bool] = None, mmap=None, **kw):
    """docs"""
    if weights_only is None:
        weights_only, warn_weights_only = False, True
    else:
        warn_weights_only = False
    if os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0").lower() in ["1", "y", "yes", "true"]:
        weights_only = True
    return weights_only
'''

SOURCE_26 = '''
import os
import torch
from typing import Optional

def _default_to_weights_only(pickle_module):
    is_fbcode = not hasattr(torch.version, "git_version")
    return pickle_module is None and not is_fbcode

def load(f, map_location=None, pickle_module=None, *, weights_only: Optional[bool] = None, mmap=None, **kw):
    weights_only_not_set = weights_only is None
    if weights_only_not_set:
        weights_only = _default_to_weights_only(pickle_module)
    force = os.getenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0") in ["1"]
    force_no = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0") in ["1"]
    debug = os.environ["TORCH_SERIALIZATION_DEBUG"]
    return weights_only
'''

SOURCE_20 = '''
def load(f, map_location=None, pickle_module=None, *, weights_only: bool = False, **kw):
    return weights_only
'''


def test_extractor_by_era():
    assert torch_facts.weights_only_default(SOURCE_20) is False
    assert torch_facts.weights_only_default(SOURCE_25) is False
    assert torch_facts.weights_only_default(SOURCE_26) is True
    assert torch_facts.weights_only_env(SOURCE_25) == ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
    assert torch_facts.weights_only_env(SOURCE_26) == ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                                                       "TORCH_FORCE_WEIGHTS_ONLY_LOAD"]


def test_extractor_refuses_to_guess():
    unset_never_assigned = SOURCE_25.replace("weights_only, warn_weights_only = False, True", "pass")
    with pytest.raises(torch_facts.Undecided):
        torch_facts.weights_only_default(unset_never_assigned)
    unknown_call = SOURCE_26.replace("= _default_to_weights_only(pickle_module)", "= _elsewhere(pickle_module)")
    with pytest.raises(torch_facts.Undecided):
        torch_facts.weights_only_default(unknown_call)


def test_dtype_names_from_pyi():
    pyi = "class dtype:\n    is_signed: bool = ...\nfloat32: dtype = ...\nhalf: dtype = ...\nx: int = ...\n"
    assert torch_facts.dtype_names(pyi) == ["float32", "half"]


def test_weights_only_default_flips_in_2_6():
    assert ROWS["2.5.1"]["weights_only_default"] is False
    assert ROWS["2.6.0"]["weights_only_default"] is True
    flipped = [v for v, row in ROWS.items() if row["weights_only_default"]]
    assert flipped[0] == "2.6.0"
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in ROWS["2.5.1"]["weights_only_env"]
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in ROWS["2.6.0"]["weights_only_env"]
    assert all("TORCH_FORCE_WEIGHTS_ONLY_LOAD" in row["weights_only_env"] for row in ROWS.values())


def test_dtype_history():
    # the pyi: no float8 in 2.0.x, and (though 2.1 defines float8_e4m3fn) none in the 2.1.x pyi either
    for version in ("2.0.0", "2.0.1", "2.1.0", "2.1.2"):
        assert "float8_e4m3fn" not in ROWS[version]["dtypes"]
    assert {"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"} <= set(ROWS["2.2.0"]["dtypes"])
    assert "uint16" not in ROWS["2.2.2"]["dtypes"]
    assert {"uint16", "uint32", "uint64"} <= set(ROWS["2.3.0"]["dtypes"])
    # the C++ ScalarType list: float8 from 2.1, unsigned 16-64 from 2.3
    assert "Float8_e4m3fn" not in ROWS["2.0.1"]["scalar_types"]
    assert {"Float8_e4m3fn", "Float8_e5m2"} <= set(ROWS["2.1.0"]["scalar_types"])
    assert "UInt16" not in ROWS["2.2.2"]["scalar_types"]
    assert {"UInt16", "UInt32", "UInt64"} <= set(ROWS["2.3.0"]["scalar_types"])
    # once there, a name stays
    ordered = list(ROWS.values())
    for older, newer in zip(ordered, ordered[1:]):
        assert set(older["dtypes"]) <= set(newer["dtypes"]), newer["version"]
        assert set(older["scalar_types"]) <= set(newer["scalar_types"]), newer["version"]


def test_safetensors_table():
    table = torch_facts.SAFETENSORS_TO_TORCH
    assert table["F8_E4M3"] == "float8_e4m3fn" and table["F8_E5M2"] == "float8_e5m2"
    assert table["BF16"] == "bfloat16" and table["BOOL"] == "bool" and table["U16"] == "uint16"
    newest = ROWS[DATA["releases"][-1]["version"]]
    assert set(table.values()) <= set(newest["dtypes"])
