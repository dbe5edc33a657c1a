"""The README's "Use sparsekit in your own code" block runs as it stands, in a fresh interpreter."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    head = "## Use sparsekit in your own code"
    assert head + "\n" in text, f"the README has no section headed exactly {head!r}"
    section = text.split(head, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the section has no python code block"
    return blocks[0]


def test_the_block_prunes_a_resnet18_globally_and_converts_it():
    code = readme_block()
    for needed in ("resnet18(weights=None", 'prune_to(0.9, scope="global")', "to_sparse(", "fit(", "perf_counter"):
        assert needed in code, f"the README block no longer shows {needed!r}"


@pytest.mark.slow
def test_the_block_runs(tmp_path):
    script = tmp_path / "block.py"
    script.write_text(readme_block())
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sparsity 0.900" in done.stdout and "largest difference to the masked dense model" in done.stdout
