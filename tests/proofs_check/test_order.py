"""`wpgd verify` lists its checks grouped by claim (risk, stationarity, gating, multi-layer, the architecture atlas, optimum),
whatever order the check modules happen to be imported in."""

from wpgd.proofs_check.runner import registered_checks

FAMILIES = ["risk", "stationarity", "gating", "multilayer", "atlas", "optimum"]


def _grouped_in_order(names: list[str]) -> bool:
    families = [n.split(".")[0] for n in names]
    blocks = [f for i, f in enumerate(families) if i == 0 or f != families[i - 1]]
    return blocks == [f for f in FAMILIES if f in families]


def test_checks_are_listed_by_claim():
    names = [c.name for c in registered_checks()]
    assert set(n.split(".")[0] for n in names) == set(FAMILIES)
    assert _grouped_in_order(names), names


def test_the_order_predicate_rejects_a_shuffled_listing():
    names = [c.name for c in registered_checks()]
    assert not _grouped_in_order(list(reversed(names)))
    assert not _grouped_in_order(names[1:] + names[:1])  # one risk check moved to the end
