"""inspect must never import torch, transformers or sentence_transformers (nor numpy: it costs 100 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "sentence_transformers", "numpy", "safetensors")


def test_inspect_cli_imports_nothing_heavy(minilm):
    code = (
        "import sys\n"
        "from stcompat.cli import main\n"
        "try:\n"
        f"    main(['inspect', {str(minilm)!r}, '--format', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('MODULES', __import__('json').dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("MODULES ")][0]
    assert json.loads(line[len("MODULES "):]) == []
    assert '"schema": "stcompat.inspect/1"' in result.stdout


def test_table_view_renders(minilm):
    result = subprocess.run([sys.executable, "-m", "stcompat.cli", "inspect", str(minilm)],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert "sentence_transformers.models.Pooling" in result.stdout
    assert "saved with: sentence_transformers 2.0.0" in result.stdout


def test_public_api_is_lazy_and_complete():
    code = ("import sys, stcompat\n"
            "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'sentence_transformers')]\n"
            "for name in stcompat.__all__: getattr(stcompat, name)\n"
            "print('heavy', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sentence_transformers'}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "heavy []" in result.stdout
