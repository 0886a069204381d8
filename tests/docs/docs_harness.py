"""Executed documentation: extract the examples of a Markdown page, run them, compare their output.

What is executed (everything else — ``bash`` install commands, ``toml``, ``text`` — is only shown):

* a ```` ```console ```` block: every line ``$ COMMAND`` is run with bash in the page's working
  folder (a line ending in ``\\`` continues); the lines after it, up to the next ``$``, are its
  expected output (stdout and stderr together). ``echo $?`` sees the previous command's status.
* a ```` ```python ```` block with ``>>>`` lines: doctest style, each example's output compared.
* any other ```` ```python ```` block: executed; when the next block is a ```` ```text ````
  block, what the code prints must match it.

The blocks of one page run in order in one temporary folder (with ``examples/`` and ``docs/``
of the repository linked in) and share one Python namespace, as in a notebook.

Directives are HTML comments (invisible on the rendered page), each applying to the next block:

* ``<!-- docs-test: skip REASON -->`` — not run; reported as SKIP with the reason.
* ``<!-- docs-test: rtol 1e-2 -->`` — a looser relative tolerance for this block's numbers.
* ``<!-- docs-test: file NAME -->`` — the next block's text is written to ``NAME`` (not run).
  ``<!-- docs-test: file NAME`` followed by lines and ``-->`` writes those lines instead
  (a hidden input file, e.g. an invalid spec an example refuses).

Comparison (:func:`compare`): the two outputs are split into words and numbers; whitespace is
ignored (columns may shift), timings (``1.1 s``, ``in 406 s``) are masked, a ``...`` word in the
expected output matches any run of words, words must be equal and numbers agree when
``|a − b| ≤ max(rtol·max(|a|, |b|), one unit in the expected number's last printed decimal,
1e-13)``. The last-digit slack applies only to decimals with at least 3 significant digits:
integers (counts) and short numbers are compared with rtol only.
"""

from __future__ import annotations

import contextlib
import difflib
import doctest
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RTOL = 1e-6
ATOL = 1e-13

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*(-->)?\s*$")
_TIMING = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(\s?s)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.]*\w)")
_WORD = re.compile(r"\S+")


@dataclass
class Block:
    """One fenced block of a page and the directives that precede it."""

    page: Path
    line: int
    lang: str
    text: str
    skip: str | None = None
    rtol: float = DEFAULT_RTOL
    file: str | None = None
    expected: str | None = None  # for a python block followed by a text block

    @property
    def id(self) -> str:
        rel = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{rel}:{self.line}"


@dataclass
class Page:
    """The examples of one Markdown page, in order, plus the hidden files it writes."""

    path: Path
    blocks: list[Block] = field(default_factory=list)

    @property
    def executable(self) -> list[Block]:
        return [b for b in self.blocks if b.file is not None or b.lang == "console" or b.lang == "python"]


def parse_page(path: Path) -> Page:
    """All fenced blocks of ``path`` with their directives (see the module docstring)."""
    lines = Path(path).read_text().splitlines()
    page = Page(Path(path))
    pending: dict = {}
    prev_end = -1
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _DIRECTIVE.match(line)
        if m:
            verb, arg, closed = m.group(1), m.group(2), m.group(3)
            body = []
            if not closed:
                i += 1
                while i < len(lines) and not lines[i].strip().endswith("-->"):
                    body.append(lines[i])
                    i += 1
                tail = lines[i].strip()[:-3].rstrip() if i < len(lines) else ""
                if tail:
                    body.append(tail)
            if verb == "file" and body:
                page.blocks.append(Block(page.path, i + 1, "hidden-file", "\n".join(body) + "\n", file=arg))
            elif verb in ("skip", "rtol", "file"):
                pending[verb] = arg
            else:
                raise ValueError(f"{path}:{i + 1}: unknown docs-test directive {verb!r}")
            i += 1
            continue
        m = _FENCE.match(line)
        if m:
            indent, lang = m.group(1), m.group(2)
            start = i
            body = []
            i += 1
            while i < len(lines) and not re.match(rf"^{indent}```\s*$", lines[i]):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            block = Block(page.path, start + 1, lang, "\n".join(body) + "\n")
            if "skip" in pending:
                block.skip = pending["skip"] or "marked skip"
            if "rtol" in pending:
                block.rtol = float(pending["rtol"])
            if "file" in pending:
                block.file = pending["file"]
            pending = {}
            prev = page.blocks[-1] if page.blocks else None
            if (lang == "text" and prev is not None and prev.lang == "python" and prev.expected is None
                    and prev.file is None and ">>>" not in prev.text
                    and all(not s.strip() for s in lines[prev_end + 1:start])):
                prev.expected = block.text
            else:
                page.blocks.append(block)
            prev_end = i
        i += 1
    return page


# ---------------------------------------------------------------------------------------------
# comparison


def _tokens(text: str) -> list[tuple]:
    text = _TIMING.sub(r"<time>\1", text)
    out: list[tuple] = []
    for word in _WORD.findall(text):
        if word == "...":
            out.append(("any",))
            continue
        pos = 0
        for m in _NUMBER.finditer(word):
            if m.start() > pos:
                out.append(("txt", word[pos:m.start()]))
            out.append(("num", m.group(0)))
            pos = m.end()
        if pos < len(word):
            out.append(("txt", word[pos:]))
    return out


def _last_unit(s: str) -> float:
    """One unit in the last printed decimal of ``s``; 0 for an integer (compared exactly) and for
    fewer than 3 significant digits (``0.25`` vs ``0.26`` is a real difference, not rounding)."""
    mant, _, exp = s.lower().lstrip("+-").partition("e")
    if "." not in mant and not exp:
        return 0.0
    if len(mant.replace(".", "").lstrip("0")) < 3:
        return 0.0
    decimals = len(mant.split(".", 1)[1]) if "." in mant else 0
    return 10.0 ** (int(exp or 0) - decimals)


def numbers_agree(expected: str, actual: str, rtol: float) -> bool:
    """Whether two printed numbers agree (see the module docstring)."""
    a, b = float(expected), float(actual)
    tol = max(rtol * max(abs(a), abs(b)), 1.01 * _last_unit(expected), ATOL)
    return abs(a - b) <= tol


def _token_eq(e: tuple, a: tuple, rtol: float) -> bool:
    if e[0] != a[0]:
        return False
    if e[0] == "num":
        return numbers_agree(e[1], a[1], rtol)
    return e[1] == a[1]


def compare(expected: str, actual: str, rtol: float = DEFAULT_RTOL) -> str | None:
    """``None`` when ``actual`` matches ``expected``; otherwise a message with a diff."""
    exp, act = _tokens(expected), _tokens(actual)
    # glob matching: ``("any",)`` matches any run of tokens
    n, m = len(exp), len(act)
    ok = [[False] * (m + 1) for _ in range(n + 1)]
    ok[n][m] = True
    for i in range(n - 1, -1, -1):
        for j in range(m, -1, -1):
            if exp[i][0] == "any":
                ok[i][j] = ok[i + 1][j] or (j < m and ok[i][j + 1])
            else:
                ok[i][j] = j < m and _token_eq(exp[i], act[j], rtol) and ok[i + 1][j + 1]
    if ok[0][0]:
        return None
    first = next((k for k in range(min(n, m)) if exp[k][0] == "any" or not _token_eq(exp[k], act[k], rtol)),
                 min(n, m))
    want = exp[first][-1] if first < n else "end of output"
    got = act[first][-1] if first < m else "end of output"
    where = f"first difference at word {first}: expected {want!r}, got {got!r} (rtol {rtol:g})"
    diff = "\n".join(difflib.unified_diff(expected.strip().splitlines(), actual.strip().splitlines(),
                                          "documented", "actual", lineterm="", n=1))
    return f"{where}\n{diff}"


# ---------------------------------------------------------------------------------------------
# execution


@dataclass
class Outcome:
    """What running a block gave: ``failure`` is None when its output matched."""

    failure: str | None
    commands: int = 0


class Runner:
    """Runs the blocks of one page in order, in one folder and one Python namespace."""

    def __init__(self, workdir: Path, timeout: float = 600.0):
        self.workdir = Path(workdir)
        self.timeout = timeout
        self.namespace: dict = {"__name__": "__docs__"}
        for name in ("examples", "docs"):
            link = self.workdir / name
            if not link.exists():
                link.symlink_to(ROOT / name, target_is_directory=True)
        self.env = dict(os.environ)
        bindir = str(Path(sys.executable).parent)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.env.setdefault("OMP_NUM_THREADS", "1")
        self.env.setdefault("MKL_NUM_THREADS", "1")
        self.env.pop("WPGD_PROGRESS", None)

    def run(self, block: Block) -> Outcome:
        if block.file is not None:
            target = self.workdir / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text)
            return Outcome(None)
        if block.lang == "console":
            return self._console(block)
        if block.lang == "python":
            return self._doctest(block) if re.search(r"^\s*>>> ", block.text, re.M) else self._python(block)
        return Outcome(None)

    def _console(self, block: Block) -> Outcome:
        commands: list[tuple[str, list[str]]] = []
        lines = block.text.splitlines()
        k = 0
        while k < len(lines):
            if lines[k].startswith("$ "):
                cmd = lines[k][2:]
                while cmd.endswith("\\") and k + 1 < len(lines):
                    k += 1
                    cmd = cmd[:-1] + " " + lines[k].strip()
                commands.append((cmd, []))
            elif commands:
                commands[-1][1].append(lines[k])
            elif lines[k].strip():
                return Outcome(f"{block.id}: console block text before the first '$ ' command")
            k += 1
        status = 0
        for cmd, expected in commands:
            proc = subprocess.run(["bash", "-c", f"(exit {status}); {cmd}"], cwd=self.workdir, env=self.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL)
            status = proc.returncode
            problem = compare("\n".join(expected), proc.stdout, block.rtol)
            if problem:
                return Outcome(f"{block.id}: $ {cmd}\n{problem}", len(commands))
        return Outcome(None, len(commands))

    def _exec(self, source: str, name: str, mode: str = "exec") -> tuple[str, BaseException | None]:
        buf = io.StringIO()
        old = os.getcwd()
        os.chdir(self.workdir)
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(source, name, mode), self.namespace)
        except Exception as exc:  # noqa: BLE001  reported with the block
            return buf.getvalue(), exc
        finally:
            os.chdir(old)
        return buf.getvalue(), None

    def _python(self, block: Block) -> Outcome:
        out, exc = self._exec(block.text, block.id)
        if exc is not None:
            return Outcome(f"{block.id}: raised {type(exc).__name__}: {exc}\n(printed so far: {out!r})")
        if block.expected is not None:
            problem = compare(block.expected, out, block.rtol)
            if problem:
                return Outcome(f"{block.id}: printed output differs\n{problem}")
        return Outcome(None)

    def _doctest(self, block: Block) -> Outcome:
        for ex in doctest.DocTestParser().get_examples(block.text):
            out, exc = self._exec(ex.source, block.id, "single")
            if exc is not None:
                names = (type(exc).__name__, f"{type(exc).__module__}.{type(exc).__qualname__}")
                if ex.exc_msg is not None and any(compare(ex.exc_msg, f"{name}: {exc}", block.rtol) is None
                                                  for name in names):
                    continue
                return Outcome(f"{block.id}: >>> {ex.source.strip()}\nraised {type(exc).__name__}: {exc}")
            problem = compare(ex.want, out, block.rtol)
            if problem:
                return Outcome(f"{block.id}: >>> {ex.source.strip()}\n{problem}")
        return Outcome(None)


def documented_pages() -> list[Path]:
    """README.md and every Markdown page of the documentation site."""
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
