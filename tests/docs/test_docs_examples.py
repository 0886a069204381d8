"""Every command and Python example of README.md and of the documentation site runs and prints
what the page shows (tests/docs/docs_harness.py says how blocks are found and compared).

Blocks too expensive for the test suite carry ``<!-- docs-test: skip REASON -->`` and are
reported as SKIP with that reason, never as a pass.
"""

from __future__ import annotations

import pytest
from docs_harness import ROOT, Block, Runner, compare, documented_pages, numbers_agree, parse_page

PAGES = {path: parse_page(path) for path in documented_pages()}
BLOCKS = [(path, k) for path, page in PAGES.items() for k, _ in enumerate(page.executable)]
_RUNNERS: dict = {}


def _runner(path, tmp_path_factory):
    if path not in _RUNNERS:
        _RUNNERS[path] = [Runner(tmp_path_factory.mktemp(path.stem)), 0]
    return _RUNNERS[path]


@pytest.mark.slow
@pytest.mark.parametrize("path,k", BLOCKS, ids=[PAGES[p].executable[k].id for p, k in BLOCKS])
def test_documented_example(path, k, tmp_path_factory):
    blocks = PAGES[path].executable
    block = blocks[k]
    if block.skip is not None:
        pytest.skip(f"SKIP: docs-test: {block.skip}")
    state = _runner(path, tmp_path_factory)
    runner, done = state
    for earlier in blocks[done:k]:  # blocks this one may depend on (when run alone, e.g. with -k)
        if earlier.skip is None:
            runner.run(earlier)
    state[1] = k + 1
    outcome = runner.run(block)
    assert outcome.failure is None, outcome.failure


def test_pages_have_executed_examples():
    runnable = [b for page in PAGES.values() for b in page.executable if b.file is None and b.skip is None]
    skipped = [b for page in PAGES.values() for b in page.executable if b.skip is not None]
    readme = [b for b in PAGES[ROOT / "README.md"].executable if b.skip is None and b.lang == "console"]
    assert len(readme) >= 8, "README.md's console examples are no longer found by the harness"
    assert len(skipped) <= len(runnable) // 3, f"too many skipped examples: {[b.id for b in skipped]}"


# --- the comparison itself, with negative controls ------------------------------------------


def test_numbers_agree_to_the_last_printed_digit_only():
    assert numbers_agree("0.182", "0.1825", 1e-6)          # within one unit of the last digit
    assert not numbers_agree("0.182", "0.1845", 1e-6)      # 2.5 units off
    assert numbers_agree("9.34976", "9.349760000001", 1e-6)
    assert not numbers_agree("9.34976", "9.35976", 1e-6)
    assert not numbers_agree("3", "2", 1e-6)                # counts are exact
    assert numbers_agree("7.73e-17", "1.2e-16", 1e-6)       # rounding noise below 1e-13
    assert not numbers_agree("1e-10", "2e-10", 1e-6)


def test_compare_masks_timings_ignores_spacing_and_catches_words():
    assert compare("PASS  risk.x  (1.1 s)\nok", "PASS risk.x (37.5 s)\n ok") is None
    assert compare("risk  9.34976\nfixed points  1", "risk 9.34976\nfixed points 2") is not None
    assert compare("status  converged", "status  not_converged") is not None
    assert compare("a 1\n...\nz 2", "a 1\nb\nc 3\nz 2") is None
    assert compare("a 1\n...\nz 2", "a 1\nb\nc 3\nz 3") is not None
    assert compare("exit 2", "exit 2\nan extra line") is not None


def test_a_drifted_page_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ echo risk 5.727009646\nrisk 5.727009646\n$ echo risk 5.8\nrisk 5.727009646\n```\n\n"
        "```python\nprint(1 + 1)\n```\n\n```text\n3\n```\n\n"
        "```python\n>>> 2 * 3\n7\n```\n\n"
        "<!-- docs-test: skip too slow -->\n```console\n$ sleep 100\n```\n"
    )
    blocks = parse_page(page).executable
    assert [b.lang for b in blocks] == ["console", "python", "python", "console"]
    assert blocks[1].expected == "3\n" and blocks[3].skip == "too slow"
    runner = Runner(tmp_path)
    console = runner.run(blocks[0])
    assert console.failure is not None and "echo risk 5.8" in console.failure
    assert runner.run(blocks[1]).failure is not None
    assert runner.run(blocks[2]).failure is not None


def test_hidden_files_and_exit_status(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: file spec.toml\n[noise]\nvariance = 0.5\n-->\n"
        "```console\n$ grep variance spec.toml\nvariance = 0.5\n$ false\n$ echo $?\n1\n```\n"
    )
    blocks = parse_page(page).executable
    runner = Runner(tmp_path)
    assert [runner.run(b).failure for b in blocks] == [None, None]
    wrong = Block(page, 1, "console", "$ false\n$ echo $?\n0\n")
    assert runner.run(wrong).failure is not None
