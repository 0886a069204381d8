"""The curated-mutant harness (tools/mutants): the catalogue is current, and a bounded subset is killed."""

import pytest

from tools.mutants import run as runner
from tools.mutants.catalogue import MUTANTS, SMOKE, Mutant


def test_catalogue_snippets_apply_exactly_once():
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids))
    assert sum(m.origin == "campaign" for m in MUTANTS) >= 10 and sum(m.origin == "curated" for m in MUTANTS) >= 40
    for m in MUTANTS:
        count = (runner.ROOT / m.file).read_text(encoding="utf-8").count(m.old)
        # files rewritten on other branches (drift=True) may lose a snippet: then it is reported stale
        assert count == 1 or (m.drift and count == 0), (m.id, count)
        assert m.old != m.new and m.tests


def test_stale_mutant_is_reported_not_applied(tmp_path):
    (tmp_path / "f.py").write_text("x = 1\n")
    m = Mutant("zz", "f.py", "y = 2", "y = 3", "absent snippet", ("t",))
    assert runner.apply(m, tmp_path) is False and (tmp_path / "f.py").read_text() == "x = 1\n"
    m = Mutant("zz", "f.py", "x = 1", "x = 2", "present", ("t",))
    assert runner.apply(m, tmp_path) is True and (tmp_path / "f.py").read_text() == "x = 2\n"


@pytest.mark.slow
@pytest.mark.parametrize("mutant_id", SMOKE)
def test_smoke_mutants_are_killed_by_their_tests(mutant_id):
    (m,) = [m for m in MUTANTS if m.id == mutant_id]
    row = runner.run_mutant(m, verify=False, timeout=300)
    assert row["status"] == "killed", row
