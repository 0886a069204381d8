"""docs/derivations.md cannot drift: every ```python block followed by a ```text block is run
and its printed output must equal the text; the example files' claims match the docs."""

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "derivations.md"
_BLOCK = r"((?:(?!```).)*?)"  # a fenced block's body: no fence inside
PAIRS = re.findall(rf"```python\n{_BLOCK}\n```\s*\n```text\n{_BLOCK}\n```", DOC.read_text(), flags=re.S)


def test_the_doc_has_executable_examples():
    assert len(PAIRS) >= 4


@pytest.mark.parametrize("k", range(len(PAIRS)))
def test_doc_block_output(k):
    code, expected = PAIRS[k]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, f"{DOC.name}[block {k}]", "exec"), {"__name__": "__doc_block__"})
    assert buf.getvalue().strip() == expected.strip()
