"""The project's vocabulary in one place: weight classes, gatings and model families.

Every reader (the CLI's choices, :mod:`wpgd.numerics.core.classes`, :mod:`wpgd.numerics.core.references`, the
experiments, the L-step reference, the GLA layer) takes its names, labels and aliases from here;
``tests/numerics/test_vocabulary.py`` asserts that no second copy of these lists exists.

* **Weight classes** (docs/theory.md §2, §5.6): the sets of token weights ω one architecture can
  realise, each with the caption of its optimum.
* **Gatings** of a GLA layer (docs/theory.md §1.2, §2.4): ``none`` (linear attention), ``scalar``,
  ``vector`` (one gate per key channel). The weight class ``linear`` is realised by gating
  ``none``; :data:`GATING_ALIASES` maps the class spelling to the gating.
* **Model families**: the trainable models of ``wpgd train`` and of the experiments, each with its
  gating, default delimiter and the theory classes it is reported against.
* **The key-width rule** of the vector-gating construction (docs/theory.md §2.5).
* **Architectures** of the atlas (docs/theory.md §8, docs/atlas/): published gated recurrences,
  the five with a WPGD form under the one-layer construction and the two delta-rule models.

This module imports nothing (no NumPy, no torch), so every layer can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_NAMES",
    "ATLAS_CONTEXTS",
    "Architecture",
    "CLASSES",
    "CLASS_CHOICES",
    "DELIMITER_CODES",
    "GATINGS",
    "GATING_ALIASES",
    "MODEL_KINDS",
    "MULTISTEP_CLASSES",
    "SOLVE_CLASS_CHOICES",
    "STEPS_CLASSES",
    "GDPP_STEPS_CLASSES",
    "ModelKind",
    "THEORY_CLASSES",
    "WEIGHT_CLASSES",
    "WPGD_ARCHITECTURES",
    "WeightClass",
    "canonical_gating",
    "class_label",
    "vector_key_width",
]


@dataclass(frozen=True)
class WeightClass:
    """One architecture's weight class.

    Attributes:
        name: the name used by the API, the CLI (``--class``) and the result files.
        label: an honest one-line caption of the class (the vector one is a template with
            ``{m}``, ``{r1}``, ``{r2}``: key width and the two rank limits).
        reference_label: the shorter caption of its optimum as a training reference.
        gating: the GLA gating that realises it (None: no single GLA layer, the class is a
            bound or a reference line).
        is_bound: the optimum lower-bounds every model of the class (False for ``geometric``,
            a reference line that data-dependent gates can beat).
        theory_curve: drawn as a dashed theory curve in the Figure-1 experiment (the vector
            optimum depends on the key width: markers only).
        multistep: ``wpgd solve --steps L`` fits an L-step reference for it (docs/multilayer.md).
    """

    name: str
    label: str
    reference_label: str
    gating: str | None
    is_bound: bool = True
    theory_curve: bool = False
    multistep: bool = False


WEIGHT_CLASSES: dict[str, WeightClass] = {
    c.name: c
    for c in (
        WeightClass(
            "linear",
            "linear attention (ω ∝ 1)",
            "linear attention optimum (ω ∝ 1)",
            "none",
            theory_curve=True,
            multistep=True,
        ),
        WeightClass(
            "geometric",
            "fixed-decay scalar gate ω_i = g^(n−i) (reference line, not a bound: data-dependent gates "
            "without delimiters can beat it)",
            "fixed-decay optimum (ω_i = g^(n−i), reference line)",
            "scalar",
            is_bound=False,
            theory_curve=True,
        ),
        WeightClass(
            "scalar",
            "scalar gating with delimiters (ω ≥ 0, non-decreasing toward the query)",
            "scalar-gating optimum (ω ≥ 0 non-decreasing)",
            "scalar",
            theory_curve=True,
            multistep=True,
        ),
        WeightClass(
            "vector",
            "vector gating, key width {m} (monotone ω with rank P ≤ {r1}, or any ω with rank P ≤ {r2})",
            "vector-gating optimum",
            "vector",
        ),
        WeightClass(
            "unconstrained",
            "unconstrained WPGD (ω ∈ Rⁿ)",
            "unconstrained WPGD optimum",
            None,
            theory_curve=True,
        ),
    )
}
"""The weight classes by name, ordered from the smallest class to the largest."""

CLASSES: tuple[str, ...] = tuple(WEIGHT_CLASSES)
"""Names of the weight classes."""

CLASS_CHOICES: tuple[str, ...] = CLASSES + ("all",)
"""The weight classes or all of them side by side (``wpgd solve --class`` also takes the atlas
architectures: :data:`SOLVE_CLASS_CHOICES`)."""

THEORY_CLASSES: tuple[str, ...] = tuple(c for c in CLASSES if WEIGHT_CLASSES[c].theory_curve)
"""Classes drawn as dashed theory curves (the vector optimum depends on the key width: markers only)."""

MULTISTEP_CLASSES: tuple[str, ...] = tuple(c for c in CLASSES if WEIGHT_CLASSES[c].multistep)
"""Classes with an L-step WPGD reference (scalar gates by token type, or none)."""

STEPS_CLASSES: tuple[str, ...] = ("gdpp-rescale", "gdpp", "recursion")
"""L-step classes of ``wpgd solve --steps L`` (``--steps-class``), the default first: gated GD++
with label rescaling, gated GD++ without it, the label-only recursion (6.1) (docs/multilayer.md)."""

GDPP_STEPS_CLASSES: tuple[str, ...] = STEPS_CLASSES[:2]
"""The L-step classes fitted by :func:`wpgd.numerics.nn.gdpp_optimum.gdpp_optimum` (scalar gating only)."""

GATINGS: tuple[str, ...] = ("scalar", "vector", "none")
"""Gatings of a GLA layer: scalar, vector (one gate per key channel) or none (linear attention)."""

GATING_ALIASES: dict[str, str] = {"linear": "none"}
"""Other spellings of a gating: the weight class ``linear`` is gating ``none``."""

DELIMITER_CODES: tuple[str, ...] = ("boundary", "flag")
"""Delimiter encodings of the constructions: one code per boundary, or one shared flag
(docs/theory.md §1.1)."""


def canonical_gating(name: str) -> str:
    """The gating called ``name`` (``"linear"`` → ``"none"``); ValueError for an unknown one."""
    gating = GATING_ALIASES.get(name, name)
    if gating not in GATINGS:
        raise ValueError(
            f"gating must be one of {', '.join(GATINGS)} (or {', '.join(GATING_ALIASES)}), got {name!r}"
        )
    return gating


def class_label(name: str, **fields: int) -> str:
    """The caption of class ``name`` (the vector one filled with ``m``, ``r1``, ``r2``)."""
    label = WEIGHT_CLASSES[name].label
    return label.format(**fields) if fields else label


@dataclass(frozen=True)
class ModelKind:
    """A trainable model family.

    Attributes:
        name: CLI name.
        gating: ``GLAModel`` gating (one of :data:`GATINGS`).
        delimiter: default delimiter encoding of its prompts ("none" or "boundary": one code per
            segment boundary, so that a gate can weight every segment; ``wpgd.numerics.nn.prompts``).
        classes: theory classes to report, the first being the one the gap is measured to.
    """

    name: str
    gating: str
    delimiter: str
    classes: tuple[str, ...]


MODEL_KINDS: dict[str, ModelKind] = {
    "linear": ModelKind("linear", "none", "none", ("linear",)),
    "scalar": ModelKind("scalar", "scalar", "boundary", ("scalar",)),
    "scalar-nodelim": ModelKind("scalar-nodelim", "scalar", "none", ("geometric", "scalar")),
    "vector": ModelKind("vector", "vector", "boundary", ("vector", "unconstrained")),
}
"""The four model families of ``wpgd train`` and the Figure-1 experiment, by CLI name."""


def vector_key_width(d: int, num_segments: int, codes: str = "boundary") -> int:
    """Key width of the vector-gating construction that realises every WPGD weight vector of a
    K-segment prompt with a full-rank preconditioner (docs/theory.md §2.5).

    A non-monotone ω with rank-d P needs at least 2d key channels whatever the gates; one segment
    (ω ∝ 1) needs d. ``codes="boundary"`` (one delimiter code per boundary): 2d, two groups
    realising ω = u − v. ``codes="flag"`` (one shared delimiter flag): K·d, K groups combined by
    a Vandermonde solve. Both are 2d for K = 2.

    Raises:
        ValueError: d or K below 1, or an unknown ``codes``.

    >>> vector_key_width(10, 2), vector_key_width(10, 3, "flag"), vector_key_width(10, 1)
    (20, 30, 10)
    """
    if codes not in DELIMITER_CODES:
        raise ValueError(f"codes must be one of {DELIMITER_CODES}, got {codes!r}")
    if d < 1 or num_segments < 1:
        raise ValueError(f"need d ≥ 1 and num_segments ≥ 1, got {d}, {num_segments}")
    if num_segments == 1:
        return d
    return 2 * d if codes == "boundary" else num_segments * d


def trained_key_width(model: str, d: int, num_segments: int, token_width: int, key_dim: int | None = None,
                      factor: int = 1) -> int:
    """Key width the trainer builds for a ``MODEL_KINDS`` family: ``key_dim`` if given, else
    ``factor`` times the vector construction's width (:func:`vector_key_width`) for vector gating,
    or ``factor`` times the token width otherwise (linear and scalar WPGD need only the feature
    channels). The one rule behind ``train_config.default_key_dim`` and the resource guard."""
    if key_dim:
        return int(key_dim)
    if MODEL_KINDS[model].gating == "vector":
        return int(factor) * vector_key_width(d, num_segments)
    return int(factor) * int(token_width)


@dataclass(frozen=True)
class Architecture:
    """A published gated recurrence of the architecture atlas (docs/theory.md §8).

    Attributes:
        name: the name used by the API and the CLI (``wpgd solve --class``, ``wpgd atlas``).
        label: the published name.
        reference: citation, one line (authors, year, arXiv id).
        wpgd_form: True when the one-layer construction computes a WPGD predictor (False for the
            delta-rule models, whose state update multiplies by ``I − β k kᵀ``: trained only).
        gating: what decays: "fixed" (a constant per head), "scalar" (one data-dependent decay per
            head), "vector" (one per key channel) or "delta" (a delta-rule update).
    """

    name: str
    label: str
    reference: str
    wpgd_form: bool
    gating: str


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("retnet", "RetNet", "Sun et al. 2023, Retentive Network, arXiv:2307.08621", True, "fixed"),
        Architecture(
            "mamba2", "Mamba2 (SSD)", "Dao & Gu 2024, Transformers are SSMs, arXiv:2405.21060", True, "scalar"
        ),
        Architecture(
            "gla",
            "GLA",
            "Yang, Wang, Shen, Panda & Kim 2024, Gated Linear Attention Transformers, arXiv:2312.06635",
            True,
            "vector",
        ),
        Architecture(
            "rwkv6", "RWKV-6 (Finch)", "Peng et al. 2024, Eagle and Finch (RWKV-5/6), arXiv:2404.05892", True, "vector"
        ),
        Architecture("mlstm", "mLSTM (xLSTM)", "Beck et al. 2024, xLSTM, arXiv:2405.04517", True, "scalar"),
        Architecture(
            "deltanet",
            "DeltaNet",
            "Yang, Wang, Zhang, Shen & Kim 2024, Parallelizing Linear Transformers with the Delta Rule, "
            "arXiv:2406.06484 (Schlag et al. 2021, arXiv:2102.11174)",
            False,
            "delta",
        ),
        Architecture(
            "gated-deltanet",
            "Gated DeltaNet",
            "Yang, Kautz & Hatamizadeh 2024, Gated Delta Networks, arXiv:2412.06464",
            False,
            "delta",
        ),
    )
}
"""The architectures of the atlas by name, in display order."""

ARCHITECTURE_NAMES: tuple[str, ...] = tuple(ARCHITECTURES)
"""Names of the atlas architectures."""

WPGD_ARCHITECTURES: tuple[str, ...] = tuple(a for a in ARCHITECTURE_NAMES if ARCHITECTURES[a].wpgd_form)
"""The architectures whose one-layer construction computes a WPGD predictor (``wpgd solve --class``)."""

ATLAS_CONTEXTS: tuple[str, ...] = ("none", "onehot")
"""Prompt contexts of the atlas: the paper's prompt ("none": demonstrations carry no segment tag) or
every demonstration carrying its segment one-hot ("onehot")."""

SOLVE_CLASS_CHOICES: tuple[str, ...] = CLASSES + WPGD_ARCHITECTURES + ("all",)
"""``wpgd solve --class`` choices: every weight class, every architecture with a WPGD form, or all."""
