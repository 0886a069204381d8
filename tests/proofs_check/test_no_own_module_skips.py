"""An ImportError in the project's own packages must fail the tests, never turn into a skip.

``pytest.importorskip`` is allowed only for optional third-party dependencies (torch; flint from the [exact] extra;
dask/distributed/cloudpickle from the [distributed] extra; pyarrow, which only adds results.parquet).
"""

import pathlib
import re

OWN = ("wpgd.theory", "wpgd.numerics", "wpgd.proofs_check", "wpgd")
OPTIONAL_THIRD_PARTY = {"torch", "flint", "dask", "distributed", "cloudpickle", "pyarrow"}  # the optional extras


def test_importorskip_only_for_optional_third_party_modules():
    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for path in root.rglob("*.py"):
        if path == pathlib.Path(__file__).resolve():  # its negative control below names an own module
            continue
        for m in re.finditer(r"importorskip\(\s*['\"]([\w.]+)['\"]", path.read_text(encoding="utf-8")):
            top = m.group(1).split(".")[0]
            if top in OWN or top not in OPTIONAL_THIRD_PARTY:
                offenders.append(f"{path.relative_to(root)}: importorskip({m.group(1)!r})")
    assert not offenders, offenders


def test_the_scan_sees_a_violation():
    """Negative control: the pattern matches an importorskip of an own module."""
    text = "x = pytest." + 'importorskip("wpgd.theory.secular")\n'  # split so repository greps do not see a real skip
    found = re.findall(r"importorskip\(\s*['\"]([\w.]+)['\"]", text)
    assert found == ["wpgd.theory.secular"] and found[0].split(".")[0] in OWN
