"""One vocabulary: the weight classes, gatings and model families are listed once
(wpgd/numerics/core/vocabulary.py) and every reader takes them from there."""

import ast
from pathlib import Path

import pytest

from wpgd.numerics.core import vocabulary as voc

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("wpgd.numerics", "wpgd.proofs_check", "wpgd", "wpgd.theory")

# Name sets that must not be spelled out again as a literal (a tuple/list/set of exactly these
# names, or a dict keyed by exactly these names). The two-name sets (MULTISTEP_CLASSES = linear,
# scalar; DELIMITER_CODES) are left out: a pair such as ("linear", "scalar") is an ordinary
# selection of models in many places, and the scan would flag them all.
VOCABULARY_SETS = {
    "classes": frozenset(voc.CLASSES),
    "class choices": frozenset(voc.CLASS_CHOICES),
    "theory classes": frozenset(voc.THEORY_CLASSES),
    "gatings": frozenset(voc.GATINGS),
    "model families": frozenset(voc.MODEL_KINDS),
    "architectures": frozenset(voc.ARCHITECTURE_NAMES),
    "WPGD architectures": frozenset(voc.WPGD_ARCHITECTURES),
    "solve classes": frozenset(voc.SOLVE_CLASS_CHOICES),
}

# Known second copies left to their owners, each with its reason; the test fails when one of
# them disappears, so that this list shrinks with the code.
KNOWN = {
    ("wpgd/numerics/experiments/plotting.py", "model families"): "plot styles, owned by the figures work (issue 13)",
    ("wpgd/numerics/experiments/plotting.py", "theory classes"): "plot styles, owned by the figures work (issue 13)",
    ("wpgd/numerics/experiments/curve_plot.py", "classes"): "plot styles of wpgd curve (issue 13)",
}


def _string_elements(node):
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        elts = node.elts
    elif isinstance(node, ast.Dict):
        elts = node.keys
    else:
        return None
    if not elts or not all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elts):
        return None
    return frozenset(e.value for e in elts)


def vocabulary_copies(source: str) -> list[tuple[int, str]]:
    """(line, which set) for every literal that spells out a whole vocabulary set."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = _string_elements(node)
        if names is None:
            continue
        for what, full in VOCABULARY_SETS.items():
            if names == full:
                found.append((node.lineno, what))
    return found


def test_the_scanner_finds_a_copy():
    # negative control: the kinds of copy this test exists to catch
    assert vocabulary_copies(
        'CHOICES = ("unconstrained", "linear", "scalar", "geometric", "vector", "all")\n'
    ) == [(1, "class choices")]
    assert vocabulary_copies('G = ("scalar", "vector", "none")\n') == [(1, "gatings")]
    labels = "L = {" + ", ".join(f'"{c}": "x"' for c in voc.CLASSES) + "}\n"
    assert vocabulary_copies(labels) == [(1, "classes")]
    assert (
        vocabulary_copies('PANEL = ("linear", "scalar", "scalar-nodelim")\n') == []
    )  # a selection, not a copy
    archs = "A = (" + ", ".join(f'"{a}"' for a in voc.WPGD_ARCHITECTURES) + ")\n"
    assert vocabulary_copies(archs) == [(1, "WPGD architectures")]


def test_no_second_copy_of_the_vocabulary():
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "wpgd/numerics/core/vocabulary.py":
                continue
            for line, what in vocabulary_copies(path.read_text(encoding="utf-8")):
                found.setdefault((rel, what), []).append(line)
    unexpected = {k: v for k, v in found.items() if k not in KNOWN}
    assert not unexpected, f"vocabulary spelled out again (use wpgd.numerics.core.vocabulary): {unexpected}"
    assert set(KNOWN) <= set(found), f"a known copy is gone, shrink KNOWN: {set(KNOWN) - set(found)}"


def _subparser_choices(command: str, dest: str):
    from wpgd.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    action = next(a for a in sub.choices[command]._actions if a.dest == dest)
    return tuple(action.choices)


def test_cli_choices_are_the_registry():
    assert _subparser_choices("solve", "cls") == voc.SOLVE_CLASS_CHOICES
    assert _subparser_choices("solve", "context") == voc.ATLAS_CONTEXTS
    assert tuple(_subparser_choices("train", "model")) == tuple(voc.MODEL_KINDS)


def test_readers_share_the_registry_objects():
    from wpgd.numerics.core import classes, references
    from wpgd.numerics.nn import multistep

    assert classes.CLASSES is voc.CLASSES
    assert references.MODEL_KINDS is voc.MODEL_KINDS
    assert multistep.GATINGS == voc.MULTISTEP_CLASSES
    for name, kind in voc.MODEL_KINDS.items():
        assert kind.gating in voc.GATINGS and set(kind.classes) <= set(voc.CLASSES), name
    assert voc.canonical_gating("linear") == "none"
    with pytest.raises(ValueError):
        voc.canonical_gating("diagonal")


def test_key_width_rule_is_one_function():
    pytest.importorskip("torch")
    from wpgd.numerics.nn.construct import vector_key_width
    from wpgd.numerics.nn.gla import default_key_width

    for d in (1, 3, 10):
        for k in (1, 2, 3, 5):
            assert default_key_width(d, k) == vector_key_width(d, k) == voc.vector_key_width(d, k)
            assert (
                vector_key_width(d, k, "flag")
                == voc.vector_key_width(d, k, "flag")
                == (d if k == 1 else k * d)
            )
    with pytest.raises(ValueError):
        voc.vector_key_width(0, 2)
