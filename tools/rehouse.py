"""Re-house the code under one import root, ``wpgd`` (issue 12), in one deterministic step.

What it does, on the repository it is run in (``--root``, default: this file's repository):

1. moves ``theory/`` and ``proofs_check/`` to ``wpgd/theory/`` and ``wpgd/proofs_check/``, and
   ``numerics/`` to ``wpgd/numerics/``, split by layer into ``core/``, ``exact/``, ``nn/`` and
   ``experiments/`` (:data:`NUMERICS_LAYERS`; a module missing from the table gets a layer by
   :func:`rule_layer`, and the script prints what it decided and why);
2. rewrites every reference in every text file git knows (tracked or untracked, not ignored):
   ``from numerics.x import``, ``import numerics.x``, relative imports inside ``numerics``
   (made absolute), ``from numerics import x`` of a submodule, dotted names in strings and
   comments (``"numerics.training.train"``, ``::: numerics.problem``, ``python -m numerics.x``),
   paths (``numerics/problem.py``), symbols that moved module (:data:`SYMBOL_MOVES`), and
   ``pyproject.toml``'s package lists;
3. copies the tests that only make sense after the move from ``tools/rehouse_payload/`` into the
   repository, and applies the few exact text fix-ups of :data:`FIXUPS`;
4. runs ``ruff check --fix --select I,UP`` (import order, pyupgrade: the mechanical rules that
   start with the re-housing) and prints the findings left, which need a hand.

It is idempotent: run on its own output it moves nothing and rewrites nothing (a second run
only re-copies the payload and re-runs ruff), so it can be re-run after merging a late branch.
It never touches tools/rehouse.py and tools/rehouse_payload/ themselves.

The coordinator's procedure, on the merged tree (all branches in, clean working tree), from the
repository root with the project's virtual environment active. Everything before the full test
run takes about one minute on a quiet 2-core machine (script ~5 s, reinstall ~15 s, ruff ~1 s,
mypy ~45 s cold)::

    python tools/rehouse.py --dry-run       # the plan: layer of every numerics module, each
                                            # rule-based decision for a new module, warnings
    python tools/rehouse.py                 # move, rewrite, copy the payload tests, ruff --fix I,UP
    pip install -q --no-deps -e .           # re-register the packages (the entry point is unchanged)
    ruff check .                            # expect "All checks passed!"
    mypy                                    # expect "Success: no issues found"
    python -m pytest -q tests/test_layout.py tests/test_public_api.py tests/test_lazy_imports.py \
        tests/cli/test_startup_imports.py tests/test_doctests.py -m "not slow"
    python -m pytest -q                     # the full suite
    git add -A && git commit -m "Re-house under one import root wpgd (tools/rehouse.py)"

What to look at before committing: every "warning:" line (file and line named), every
"new module ... -> layer" decision (move the module by editing NUMERICS_LAYERS and re-running on
a fresh checkout if the rule chose wrong), and ruff findings left after the mechanical fixes
(unused imports and the like are reported, never auto-deleted). tests/test_layout.py's
test_no_import_cycles fails as long as the solver -> certificate -> highprec -> solver cycle
(issue 12, helper 12b) is in the tree: it is the one cycle left on the branch that wrote this
script. A second run of the script on its own output moves and rewrites nothing.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("theory", "numerics", "proofs_check")
ROOT_PACKAGE = "wpgd"
LAYERS = ("core", "exact", "nn", "experiments")  # dependency order: a layer imports only earlier ones
LAYER_DOCS = {
    "core": "Float64 core: problems and specs, closed-form risk, Monte Carlo, solvers, spectra, classes.\n\n"
            "Imports NumPy/SciPy only (torch, matplotlib and python-flint are never imported here).",
    "exact": "High-precision and rigorous layer: mpmath solves, certificates, arb ball arithmetic.",
    "nn": "PyTorch layer: the GLA model, prompt sampling, construction, training and evaluation.",
    "experiments": "Experiments: figure and sweep drivers, result files and plots (matplotlib).",
}

# Every module of numerics/ at the time of writing -> its layer. A module not listed is placed by
# rule_layer(); print-outs say so. Subpackages (folders) move whole.
NUMERICS_LAYERS = {
    # core: NumPy/SciPy only
    "errors": "core", "limits": "core", "safety": "core", "fileio": "core", "problem": "core",
    "spec": "core", "risk": "core", "predictor": "core", "mc_estimators": "core",
    "montecarlo": "core", "secular": "core", "spectra": "core", "fixedpoint": "core",
    "solver": "core", "stationary": "core", "descent": "core", "weighting": "core",
    "classes": "core", "conditions": "core", "references": "core", "convergence": "core",
    "multilayer": "core", "api": "core", "reports": "core", "results": "core", "vocabulary": "core",
    "units": "core", "curve": "core",
    # exact: mpmath / python-flint
    "highprec": "exact", "certificate": "exact", "ball": "exact",
    # nn: torch
    "gla": "nn", "prompts": "nn", "construct": "nn", "train_config": "nn", "train_loop": "nn",
    "training": "nn", "evaluation": "nn", "checkpoint": "nn", "multistep": "nn",
    "multistep_fit": "nn", "feature_recursion": "nn", "gdpp_optimum": "nn", "multilayer_probe": "nn",
    # experiments: drivers and plots
    "experiments": "experiments", "highdim": "experiments", "plotting": "experiments",
    "report": "experiments", "figstyle": "experiments", "curve_plot": "experiments",
    "sweep": "experiments", "sweep_grid": "experiments", "sweep_tasks": "experiments",
    "sweep_run": "experiments", "sweep_output": "experiments",
}

# Optional (heavy) dependencies that decide a new module's layer (rule_layer).
DEPENDENCY_LAYERS = {"torch": "nn", "matplotlib": "experiments", "flint": "exact", "mpmath": "exact"}

# Symbols that live in another module after this branch, in OLD (flat) names: an import of
# (module, name) from any branch is redirected to the new module.
SYMBOL_MOVES = {
    ("proofs_check.registry", "registered_checks"): "proofs_check.runner",
    ("proofs_check.registry", "run_checks"): "proofs_check.runner",
    ("proofs_check.registry", "run_controls"): "proofs_check.runner",
}

# Exact text fix-ups the generic rewrite cannot do (code inside a string that imports several of
# our packages on one line). (path after the move, old text, new text); a miss is a warning.
FIXUPS = [
    ("tests/test_public_api.py",
     '"import sys, numerics, theory, proofs_check, wpgd.cli;',
     '"import sys, wpgd.numerics, wpgd.theory, wpgd.proofs_check, wpgd.cli;'),
]

TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg", ".ini", ".sh", ".rst", ""}
SKIP_PREFIXES = ("tools/rehouse.py", "tools/rehouse_payload/")
PAYLOAD = Path("tools/rehouse_payload")
# suffixes after "theory." that are file names in prose, not module references
NOT_MODULES = {"md", "py", "toml", "json", "png", "pdf", "txt"}


@dataclass
class Report:
    moved: list[tuple[str, str]] = field(default_factory=list)
    rewritten: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)


# ---------------------------------------------------------------------------- the plan


def _module_imports(path: Path) -> tuple[set[str], set[str]]:
    """(module-level imported names, function-level imported names), absolute or relative-as-written."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    deep: set[str] = set()

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                (top if inner == 0 else deep).update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = "." * child.level + (child.module or "")
                names = {base} | {f"{base}.{a.name}" if child.module or child.level else a.name for a in child.names}
                (top if inner == 0 else deep).update(names)
            visit(child, inner)

    visit(tree, 0)
    return top, deep


def rule_layer(name: str, files: list[Path], known: dict[str, str]) -> tuple[str, str]:
    """Layer of a module (or subpackage) not in the table, and why.

    The highest of: the layer of each optional dependency it imports at module level (torch ->
    nn, mpmath/flint -> exact, matplotlib -> experiments; matplotlib also when imported inside a
    function, since only plots need it), and the layer of every numerics module it imports at
    module level. Nothing of that kind -> core.
    """
    best, why = "core", "imports only NumPy/SciPy/our core"
    for f in files:
        top, deep = _module_imports(f)
        for imp in sorted(top | {d for d in deep if d.split(".")[0] == "matplotlib"}):
            head = imp.lstrip(".").split(".")[0]
            cand = None
            if not imp.startswith(".") and head in DEPENDENCY_LAYERS:
                cand = DEPENDENCY_LAYERS[head]
            elif imp in top:
                parts = imp.lstrip(".").split(".")
                if imp.startswith(".") and len(imp) - len(imp.lstrip(".")) == 1 and parts[0] in known:
                    cand = known[parts[0]]
                elif parts[0] == "numerics" and len(parts) > 1 and parts[1] in known:
                    cand = known[parts[1]]
            if cand and LAYERS.index(cand) > LAYERS.index(best):
                best, why = cand, f"imports {imp.lstrip('.') or imp} ({cand})"
    return best, why


@dataclass
class Plan:
    root: Path
    layers: dict[str, str]          # numerics top-level module/subpackage -> layer
    modules: dict[str, str]         # old dotted module name -> new dotted name
    moves: list[tuple[Path, Path]]  # (old path, new path), files only
    done: bool                      # the tree is already re-housed


def make_plan(root: Path, report: Report) -> Plan:
    num = root / "numerics"
    if not num.is_dir():
        # already re-housed: reconstruct the module map from wpgd/numerics/<layer>/
        modules: dict[str, str] = {}
        layers: dict[str, str] = {}
        for pkg in ("theory", "proofs_check"):
            for f in sorted((root / ROOT_PACKAGE / pkg).rglob("*.py")):
                rel = f.relative_to(root / ROOT_PACKAGE).with_suffix("")
                modules.update(_names(rel.parts, (ROOT_PACKAGE,) + rel.parts))
        base = root / ROOT_PACKAGE / "numerics"
        modules["numerics"] = f"{ROOT_PACKAGE}.numerics"
        for layer in LAYERS:
            for f in sorted((base / layer).rglob("*.py")) if (base / layer).is_dir() else []:
                rel = f.relative_to(base / layer).with_suffix("")
                if rel.parts == ("__init__",):
                    continue
                layers[rel.parts[0]] = layer
                modules.update(_names(("numerics",) + rel.parts, (ROOT_PACKAGE, "numerics", layer) + rel.parts))
        for pkg in PACKAGES:
            modules[pkg] = f"{ROOT_PACKAGE}.{pkg}"
        return Plan(root, layers, modules, [], True)

    layers = {}
    entries = sorted(p for p in num.iterdir() if (p.suffix == ".py" and p.name != "__init__.py")
                     or (p.is_dir() and (p / "__init__.py").exists()))
    unknown = []
    for p in entries:
        name = p.stem if p.is_file() else p.name
        if name in NUMERICS_LAYERS:
            layers[name] = NUMERICS_LAYERS[name]
        else:
            unknown.append(p)
    # new modules may import each other: iterate to a fixed point
    for _ in range(len(unknown) + 1):
        changed = False
        for p in unknown:
            name = p.stem if p.is_file() else p.name
            layer, _why = rule_layer(name, [p] if p.is_file() else sorted(p.rglob("*.py")), layers)
            if layers.get(name) != layer:
                layers[name], changed = layer, True
        if not changed:
            break
    for p in unknown:
        name = p.stem if p.is_file() else p.name
        files = [p] if p.is_file() else sorted(p.rglob("*.py"))
        _, why = rule_layer(name, files, layers)
        report.decisions.append(f"new module numerics/{p.name} -> {layers[name]} (rule: {why})")

    modules = {pkg: f"{ROOT_PACKAGE}.{pkg}" for pkg in PACKAGES}
    moves: list[tuple[Path, Path]] = []
    for pkg in ("theory", "proofs_check"):
        for f in sorted((root / pkg).rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                rel = f.relative_to(root)
                moves.append((f, root / ROOT_PACKAGE / rel))
                if f.suffix == ".py":
                    parts = rel.with_suffix("").parts
                    modules.update(_names(parts, (ROOT_PACKAGE,) + parts))
    for f in sorted(num.rglob("*")):
        if not f.is_file() or "__pycache__" in f.parts:
            continue
        rel = f.relative_to(num)
        if rel.parts == ("__init__.py",):
            moves.append((f, root / ROOT_PACKAGE / "numerics" / "__init__.py"))
            continue
        head = rel.parts[0][:-3] if len(rel.parts) == 1 and rel.suffix == ".py" else rel.parts[0]
        if head not in layers:
            report.warn(f"numerics/{rel}: not a module or package; moved beside the layers unchanged")
            moves.append((f, root / ROOT_PACKAGE / "numerics" / rel))
            continue
        layer = layers[head]
        moves.append((f, root / ROOT_PACKAGE / "numerics" / layer / rel))
        if f.suffix == ".py":
            parts = rel.with_suffix("").parts
            modules.update(_names(("numerics",) + parts, (ROOT_PACKAGE, "numerics", layer) + parts))
    return Plan(root, layers, modules, moves, False)


def _names(old: tuple[str, ...], new: tuple[str, ...]) -> dict[str, str]:
    if old[-1] == "__init__":
        old, new = old[:-1], new[:-1]
    return {".".join(old): ".".join(new)}


# ---------------------------------------------------------------------------- rewriting


class Rewriter:
    def __init__(self, plan: Plan, report: Report):
        self.plan = plan
        self.report = report
        self.modules = plan.modules
        self.public = self._public_names()
        # longest old names first so that numerics.ball.solve wins over numerics.ball
        pkgs = "|".join(PACKAGES)
        self.dotted = re.compile(rf"(?<![\w.\-/])({pkgs})((?:\.\w+)+)")
        self.path = re.compile(rf"(?<![\w./\-])({pkgs})/((?:\w+/)*\w+(?:\.py)?/?)?")
        self.from_import = re.compile(rf"(?<![\w.])from(\s+)({pkgs})((?:\.\w+)*)(\s+)import\b")
        self.plain_import = re.compile(rf"(?<![\w.])import(\s+)({pkgs})((?:\.\w+)*)\b(?!\s*,)")

    def _public_names(self) -> dict[str, set[str]]:
        """Names each package's ``__init__`` binds or exports, by OLD package name (``numerics``,
        ``numerics.ball``): ``from numerics import risk`` is the function bound there, not the
        submodule of the same name, exactly as Python resolves it."""
        out: dict[str, set[str]] = {}
        for pkg in sorted(set(PACKAGES) | {m for m in self.modules if m.split(".")[0] in PACKAGES}):
            rel = Path(*pkg.split("."))
            if self.plan.done:
                continue
            init = self.plan.root / rel / "__init__.py"
            names: set[str] = set()
            if init.exists():
                for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
                    if isinstance(node, ast.ImportFrom):
                        names.update(a.asname or a.name for a in node.names)
                    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                        for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                            if isinstance(t, ast.Name) and t.id == "__all__" and isinstance(node.value, ast.List):
                                names.update(e.value for e in node.value.elts if isinstance(e, ast.Constant))
            out[pkg] = names
        return out

    # --- names

    def new_module(self, old: str) -> str | None:
        return self.modules.get(old)

    def dotted_ref(self, pkg: str, rest: str, where: str) -> str | None:
        """New text for ``pkg + rest`` (rest = '.a.b.c'), or None to leave it."""
        parts = rest[1:].split(".")
        for k in range(len(parts), 0, -1):
            old = ".".join((pkg,) + tuple(parts[:k]))
            if old in self.modules:
                tail = parts[k:]
                if tail and (old, tail[0]) in SYMBOL_MOVES:
                    return ".".join([self.modules[SYMBOL_MOVES[(old, tail[0])]]] + tail)
                return ".".join([self.modules[old]] + tail)
        if parts[0] in self.public.get(pkg, set()):
            return f"{ROOT_PACKAGE}.{pkg}{rest}"
        if parts[0] not in NOT_MODULES:
            self.report.warn(f"{where}: unknown reference {pkg}{rest} (left as is)")
        return None

    def path_ref(self, pkg: str, rest: str | None, where: str) -> str | None:
        root = self.plan.root
        if not rest:
            return f"{ROOT_PACKAGE}/{pkg}/"
        target = rest.rstrip("/")
        if pkg != "numerics":
            if (root / pkg / target).exists() or (root / pkg / (target + ".py")).exists():
                return f"{ROOT_PACKAGE}/{pkg}/{rest}"
            return None
        head = target.split("/")[0]
        head = head[:-3] if head.endswith(".py") else head
        if head in self.plan.layers:
            return f"{ROOT_PACKAGE}/numerics/{self.plan.layers[head]}/{rest}"
        if head == "__init__.py":
            return f"{ROOT_PACKAGE}/numerics/{rest}"
        return None

    # --- text (prose, strings, comments)

    def text(self, s: str, where: str, code_strings: bool = False) -> str:
        def from_sub(m: re.Match) -> str:
            return f"from{m.group(1)}{self._from_target(m.group(2) + m.group(3), [], where)}{m.group(4)}import"

        def plain_sub(m: re.Match) -> str:
            old = m.group(2) + m.group(3)
            new = self.modules.get(old)
            if new is None:
                return m.group(0)
            return f"import{m.group(1)}{new}" + (f" as {old}" if "." not in old else "")

        s = self.from_import.sub(from_sub, s)
        s = self.plain_import.sub(plain_sub, s)

        def dotted_sub(m: re.Match) -> str:
            new = self.dotted_ref(m.group(1), m.group(2), where)
            return new if new is not None else m.group(0)

        def path_sub(m: re.Match) -> str:
            new = self.path_ref(m.group(1), m.group(2), where)
            return new if new is not None else m.group(0)

        s = self.dotted.sub(dotted_sub, s)
        s = self.path.sub(path_sub, s)
        return s

    def _from_target(self, old: str, names: list[str], where: str) -> str:
        new = self.modules.get(old)
        if new is None:
            self.report.warn(f"{where}: could not map module {old} (left as is)")
            return old
        return new

    # --- Python source

    def python(self, src: str, old_module: str | None, where: str) -> str:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            self.report.warn(f"{where}: not valid Python; rewritten as text")
            return self.text(src, where)
        lines = src.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))

        def offset(lineno: int, col: int) -> int:
            line = lines[lineno - 1]
            return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

        edits: list[tuple[int, int, str]] = []
        bound_dotted: set[str] = set()  # packages bound by "import pkg.sub" (code refs need rewriting)
        is_package = where.endswith("__init__.py")
        moved_numerics = old_module is not None and (old_module == "numerics" or old_module.startswith("numerics."))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                new_stmt = self._import_from(node, old_module, is_package, moved_numerics, where)
                if new_stmt is not None:
                    a, b = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
                    edits.append((a, b, new_stmt(src[a:b])))
            elif isinstance(node, ast.Import):
                parts = []
                changed = False
                for alias in node.names:
                    head = alias.name.split(".")[0]
                    if head in PACKAGES and alias.name in self.modules:
                        new = self.modules[alias.name]
                        changed = True
                        if alias.asname:
                            parts.append(f"{new} as {alias.asname}")
                        elif "." in alias.name:
                            parts.append(new)
                            bound_dotted.add(head)
                        else:
                            parts.append(f"{new} as {alias.name}")
                    else:
                        parts.append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
                if changed:
                    a, b = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
                    edits.append((a, b, "import " + ", ".join(parts)))
        out = _apply(src, edits)
        return self._tokens(out, bound_dotted, where, self._package_name_strings(out))

    def _package_name_strings(self, src: str) -> set[tuple[int, int]]:
        """(line, column) of string literals that are exactly a package name used as a module
        name: an argument of import_module/importorskip/__import__/find_spec, or an element of
        a list/tuple/set whose strings are all names of our modules (never a dict key or a
        subscript such as ``panel["theory"]``)."""
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return set()
        lines = src.splitlines()
        found: list[ast.Constant] = []

        def ours(node: ast.AST) -> bool:
            return isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value in self.modules or node.value == ROOT_PACKAGE)

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if fname in ("import_module", "importorskip", "__import__", "find_spec"):
                    found += [a for a in node.args[:1] if ours(a)]
            elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                strs = [e for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if strs and all(ours(e) for e in strs):
                    found += strs
        out = set()
        for c in found:
            if c.value in PACKAGES:
                line = lines[c.lineno - 1]
                out.add((c.lineno, len(line.encode("utf-8")[: c.col_offset].decode("utf-8"))))
        return out

    def _import_from(self, node: ast.ImportFrom, old_module: str | None, is_package: bool,
                     moved_numerics: bool, where: str):
        if node.level:
            if old_module is None:
                return None
            base = old_module.split(".") if is_package else old_module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            if target.split(".")[0] not in PACKAGES:
                return None
            # relative imports stay relative where nothing but the prefix changes
            if not moved_numerics and not target.startswith("numerics") and not any(
                    (target, a.name) in SYMBOL_MOVES for a in node.names):
                return None
        else:
            target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                return None
        if target not in self.modules:
            self.report.warn(f"{where}:{node.lineno}: could not map module {target} (left as is)")
            return None
        # group the imported names by the module they come from after the move
        groups: dict[str, list[ast.alias]] = {}
        for a in node.names:
            sub = f"{target}.{a.name}"
            if (target, a.name) in SYMBOL_MOVES:
                dest = self.modules[SYMBOL_MOVES[(target, a.name)]]
            elif sub in self.modules and a.name != "*" and a.name not in self.public.get(target, set()):
                dest = self.modules[sub].rsplit(".", 1)[0]  # a submodule: import it from its new parent
            else:
                dest = self.modules[target]
            groups.setdefault(dest, []).append(a)
        if len(groups) == 1:
            (dest,) = groups
            if dest == (node.module or "") and not node.level:
                return None

            def one(stmt: str, dest: str = dest) -> str:
                return re.sub(r"^from\s+[.\w]+\s+import", f"from {dest} import", stmt, count=1)

            return one
        indent = " " * node.col_offset

        def many(stmt: str) -> str:
            if "#" in stmt:
                self.report.warn(f"{where}:{node.lineno}: comments in a split import were dropped")
            out = []
            for dest, aliases in groups.items():
                names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in aliases)
                out.append(f"from {dest} import {names}")
            return ("\n" + indent).join(out)

        return many

    def _tokens(self, src: str, bound_dotted: set[str], where: str, names: set[tuple[int, int]]) -> str:
        edits: list[tuple[int, int, str]] = []
        lines = src.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        try:
            toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
        except (tokenize.TokenError, IndentationError):
            self.report.warn(f"{where}: could not tokenize; strings left as is")
            return src

        def pos(rc: tuple[int, int]) -> int:
            return starts[rc[0] - 1] + rc[1]

        pkgs = set(PACKAGES)
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.type in (tokenize.STRING, tokenize.COMMENT):
                if t.type == tokenize.STRING:
                    new = self._string(t.string, where, t.start in names)
                else:
                    new = self.text(t.string, where)
                if new != t.string:
                    edits.append((pos(t.start), pos(t.end), new))
            elif t.type == tokenize.NAME and t.string in bound_dotted and t.string in pkgs:
                prev = toks[i - 1] if i else None
                if not (prev and prev.type == tokenize.OP and prev.string == "."):
                    # collect NAME(.NAME)* and rewrite it as a dotted reference
                    j, rest = i + 1, ""
                    while j + 1 < len(toks) and toks[j].string == "." and toks[j + 1].type == tokenize.NAME:
                        rest += "." + toks[j + 1].string
                        j += 2
                    if rest and not (prev and prev.type == tokenize.NAME and prev.string == "import"):
                        new = self.dotted_ref(t.string, rest, where)
                        if new is not None:
                            edits.append((pos(t.start), pos(toks[j - 1].end), new))
                    i = j
                    continue
            i += 1
        return _apply(src, edits)

    def _string(self, lit: str, where: str, package_name: bool) -> str:
        m = re.match(r"^([rRbBuUfF]*)('''|\"\"\"|'|\")(.*)(\2)$", lit, re.S)
        if package_name and m and m.group(3) in PACKAGES:  # a module name that is exactly a package
            return f"{m.group(1)}{m.group(2)}{ROOT_PACKAGE}.{m.group(3)}{m.group(4)}"
        return self.text(lit, where)


def _apply(src: str, edits: list[tuple[int, int, str]]) -> str:
    for a, b, new in sorted(edits, reverse=True):
        src = src[:a] + new + src[b:]
    return src


def _pyproject(text: str) -> str:
    """Drop our old top-level package names from pyproject's string lists (``include``, mypy
    ``packages``, ruff ``known-first-party``): ``wpgd`` now covers them."""
    def fix_list(m: re.Match) -> str:
        items = re.findall(r'"([^"]*)"', m.group(0))
        heads = {i.rstrip("*").split(".")[0] for i in items}
        if not (heads & set(PACKAGES)) or ROOT_PACKAGE not in heads:
            return m.group(0)
        kept = [i for i in items if i.rstrip("*").split(".")[0] not in PACKAGES]
        return "[" + ", ".join(f'"{i}"' for i in kept) + "]"

    text = re.sub(r"\[\s*\"[^\[\]]*\"\s*,?\s*\]", fix_list, text)
    # the import-order and pyupgrade rules start with the re-housing (their fixes land in it)
    return text.replace('select = ["E", "F", "W", "B"]', 'select = ["E", "F", "W", "I", "B", "UP"]')


# ---------------------------------------------------------------------------- running


def _files(root: Path) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                             capture_output=True, check=True).stdout.decode()
        rels = [r for r in out.split("\0") if r]
    except (OSError, subprocess.CalledProcessError):
        rels = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(root).parts)]
    return [root / r for r in sorted(set(rels)) if (root / r).is_file()]


def _git_tracked(root: Path) -> bool:
    return subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root,
                          capture_output=True).returncode == 0


def run(root: Path, dry_run: bool, use_ruff: bool) -> tuple[Report, Plan]:
    report = Report()
    plan = make_plan(root, report)
    rw = Rewriter(plan, report)
    dest_of = {old: new for old, new in plan.moves}

    # 1. rewrite every text file (in memory, keyed by its final path)
    contents: dict[Path, str] = {}
    for f in _files(root):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(SKIP_PREFIXES) or f.suffix not in TEXT_SUFFIXES:
            continue
        if f.suffix == "" and f.stat().st_size > 1_000_000:
            continue
        try:
            src = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if f.suffix == ".py":
            old_module = _old_module_name(root, f, plan)
            new = rw.python(src, old_module, rel)
        else:
            new = rw.text(src, rel)
            if f.name == "pyproject.toml" and f.parent == root:
                new = _pyproject(new)
        target = dest_of.get(f, f)
        if new != src or target != f:
            contents[target] = new
            if new != src:
                report.rewritten[rel] = _count_changes(src, new)

    # 2. layer packages' __init__ files
    for layer in sorted(set(plan.layers.values())):
        init = root / ROOT_PACKAGE / "numerics" / layer / "__init__.py"
        if not init.exists() and init not in contents:
            contents[init] = f'"""{LAYER_DOCS[layer]}\n"""\n'

    if dry_run:
        return report, plan

    # 3. move, then write
    use_git = _git_tracked(root)
    for old, new in plan.moves:
        new.parent.mkdir(parents=True, exist_ok=True)
        if use_git and subprocess.run(["git", "mv", "-k", str(old), str(new)], cwd=root,
                                      capture_output=True).returncode == 0 and not old.exists():
            pass
        else:
            shutil.move(str(old), str(new))
        report.moved.append((str(old.relative_to(root)), str(new.relative_to(root))))
    for pkg in PACKAGES:
        _remove_empty(root / pkg)
    for path, text in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    # 4. payload tests and fix-ups
    payload = root / PAYLOAD
    if payload.is_dir():
        for f in sorted(payload.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                dest = root / f.relative_to(payload)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
    for rel, old_text, new_text in FIXUPS:
        p = root / rel
        if not p.exists():
            report.warn(f"fix-up target {rel} missing")
            continue
        t = p.read_text(encoding="utf-8")
        if old_text in t:
            p.write_text(t.replace(old_text, new_text), encoding="utf-8")
        elif new_text not in t:
            report.warn(f"fix-up in {rel} not applied: text not found")

    # 5. ruff --fix (import order, pyupgrade), then the findings left
    if use_ruff:
        ruff = shutil.which("ruff") or (sys.executable and _module_ruff())
        if ruff:
            cmd = [ruff] if isinstance(ruff, str) else ruff
            # only the mechanical rules (import order, pyupgrade): an unused-import "fix" could
            # delete an import kept for its side effect, so such findings are reported instead
            f401 = cmd + ["check", "--select", "F401", "--output-format", "concise", "--quiet", "."]
            before = _files_with(subprocess.run(f401, cwd=root, capture_output=True, text=True).stdout)
            subprocess.run(cmd + ["check", "--fix", "--quiet", "--select", "I,UP", "."], cwd=root)
            # pyupgrade's lru_cache(maxsize=None) -> cache leaves lru_cache unused: remove only
            # the unused imports that its fixes created
            after = _files_with(subprocess.run(f401, cwd=root, capture_output=True, text=True).stdout)
            if after - before:
                subprocess.run(cmd + ["check", "--fix", "--quiet", "--select", "F401", *sorted(after - before)],
                               cwd=root)
            left = subprocess.run(cmd + ["check", "--statistics", "."], cwd=root, capture_output=True, text=True)
            report.decisions.append("ruff after --fix: " + (left.stdout.strip() or "no findings"))
        else:
            report.warn("ruff not found: run `ruff check --fix .` yourself")
    return report, plan


def _files_with(concise: str) -> set[str]:
    return {line.split(":", 1)[0] for line in concise.splitlines() if ":" in line and line.split(":", 1)[0].endswith(".py")}


def _module_ruff():
    try:
        import ruff  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "ruff"]


def _remove_empty(d: Path) -> None:
    if not d.is_dir():
        return
    for p in sorted(d.rglob("*"), key=lambda p: -len(p.parts)):
        if p.is_dir() and p.name == "__pycache__":
            shutil.rmtree(p)
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    if d.is_dir() and not any(d.iterdir()):
        d.rmdir()


def _old_module_name(root: Path, f: Path, plan: Plan) -> str | None:
    rel = f.relative_to(root).with_suffix("")
    parts = rel.parts
    if plan.done and parts[:1] == (ROOT_PACKAGE,) and len(parts) > 1 and parts[1] in PACKAGES:
        return None  # already re-housed: relative imports are valid as they are
    if parts and parts[0] in PACKAGES:
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def _count_changes(a: str, b: str) -> int:
    la, lb = a.splitlines(), b.splitlines()
    return sum(1 for x, y in zip(la, lb) if x != y) + abs(len(la) - len(lb))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                    help="repository to re-house (default: the one holding this script)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and the warnings; change nothing")
    ap.add_argument("--no-ruff", action="store_true", help="skip the final `ruff check --fix`")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    report, plan = run(root, args.dry_run, not args.no_ruff)
    if plan.done and not report.moved:
        print("the tree is already re-housed: nothing to move")
    by_layer: dict[str, list[str]] = {}
    for name, layer in sorted(plan.layers.items()):
        by_layer.setdefault(layer, []).append(name)
    for layer in LAYERS:
        print(f"numerics.{layer:<12} {', '.join(by_layer.get(layer, []))}")
    for line in report.decisions:
        print(line)
    verb = "would move" if args.dry_run else "moved"
    print(f"{verb} {len(plan.moves)} files; {'would rewrite' if args.dry_run else 'rewrote'} "
          f"{sum(report.rewritten.values())} lines in {len(report.rewritten)} files")
    for w in report.warnings:
        print(f"warning: {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
