"""Doc tests: the README's code runs as written (with the shipped models), so it cannot rot.

Every ```python block is executed in a fresh namespace (blocks that read corpora skip
without them, blocks that import spaCy skip without it; the HanLP client's block needs a
live server and runs in tests/test_hanlp_rest.py instead); the shell lines that need no
files or server (`echo ... | zhnlp tag ...`, `zhnlp --version`) run through
`python -m zhnlp`.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from zhnlp.corpora import corpora_root

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = [block for block in re.findall(r"```python\n(.*?)```", README, re.S)
                 if "HanLPClient(" not in block]  # run against a live server elsewhere
SHELL_LINES = [line.split("  #")[0].strip()
               for block in re.findall(r"```bash\n(.*?)```", README, re.S)
               for line in block.splitlines()
               if re.match(r"(echo .*\| zhnlp tag|zhnlp --version)", line)]


def test_the_readme_has_code_to_check():
    assert len(PYTHON_BLOCKS) >= 3 and len(SHELL_LINES) >= 2


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.split("\n")[0][:40])
def test_python_block_runs(block, capsys):
    if "get_dataset" in block and not corpora_root().is_dir():
        pytest.skip(f"reads corpora, not found at {corpora_root()}")
    if "import spacy" in block:
        pytest.importorskip("spacy", reason="spaCy is an optional extra")
    exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})
    if "print(" in block:
        assert capsys.readouterr().out.strip()


@pytest.mark.parametrize("line", SHELL_LINES)
def test_shell_line_runs(line):
    command = re.sub(r"\bzhnlp\b(?= (tag|--version))", f"{sys.executable} -m zhnlp", line)
    done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
