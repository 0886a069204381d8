"""Sweep grids: one TOML file naming a base problem spec and the axes to vary.

Format::

    [sweep]
    kind = "theory"                 # or "train"
    spec = "base.toml"              # base problem spec, relative to this file
    classes = ["linear", "scalar", "unconstrained"]   # kind = "theory": weight classes to solve
    # kind = "train": models = ["linear", "scalar"], seeds = [0, 1, 2], layers = [1]

    [axes]                          # dotted keys -> values; the grid is their Cartesian product
    "tasks.segments" = [[10, 10], [20, 20]]
    "noise.variance" = [0.1, 0.5]
    # "train.lr" = [0.01, 0.02]     # kind = "train": a TrainConfig field

    [train]                         # kind = "train": TrainConfig overrides for every run
    steps = 500

A dotted key ``a.b.c`` sets ``spec[a][b][c]`` of the base spec (missing tables are created; a
key whose parent is not a table is an error), or, for ``train.<field>``, a training setting.
Every point is validated before anything runs (:func:`grid_tasks` builds its problem), so a
typo or an invalid value is one :class:`~wpgd.numerics.core.errors.SpecError` naming the axis and the
value, never a failure in the middle of a sweep.

A task is one grid point × class (theory) or × model × seed × layers (training). Its
*configuration* is plain JSON: the point's full problem spec (file paths made absolute, with the
SHA-256 of each referenced file), the class or the resolved :class:`TrainConfig`; its cache key
is the SHA-256 of that configuration (:func:`wpgd.numerics.experiments.sweep.task_key`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from wpgd.numerics.core.errors import InvalidProblemError, ResourceLimitError, SpecError
from wpgd.numerics.core.references import MODEL_KINDS
from wpgd.numerics.core.spec import parse_spec
from wpgd.numerics.core.vocabulary import CLASSES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "SweepGrid",
    "load_grid",
    "parse_grid",
    "grid_points",
    "point_problem",
    "THEORY_CLASSES",
    "MAX_TASKS",
]

THEORY_CLASSES = CLASSES
"""Weight classes a theory sweep can solve (``wpgd.numerics.core.references.class_risk``)."""

MAX_TASKS = 10**6
"""Largest number of tasks one grid may expand to."""

_SWEEP_KEYS = {"kind", "spec", "classes", "models", "seeds", "layers"}
_MAX_GRID_BYTES = 16 * 2**20


@dataclass(frozen=True)
class SweepGrid:
    """A parsed, validated grid file.

    Attributes:
        kind: "theory" or "train".
        spec: the base problem spec (parsed TOML table).
        base_dir: folder the spec's relative file paths are resolved against.
        axes: (dotted key, values) pairs, in file order.
        classes: theory classes (kind "theory").
        models, seeds, layers: model families, initialisation seeds and layer counts (kind "train").
        train: TrainConfig overrides for every run (kind "train").
        text: the grid file's text (copied beside the results).
        spec_text: the base spec file's text (copied beside the results).
    """

    kind: str
    spec: dict
    base_dir: str
    axes: tuple = ()
    classes: tuple = ("linear", "scalar", "unconstrained")
    models: tuple = ()
    seeds: tuple = (0,)
    layers: tuple = (1,)
    train: dict = field(default_factory=dict)
    text: str = ""
    spec_text: str = ""

    @property
    def axis_names(self) -> list[str]:
        """The dotted names of the axes (the CSV's first columns)."""
        return [name for name, _ in self.axes]

    @property
    def size(self) -> int:
        """Number of tasks: points × classes (theory) or points × models × seeds × layers."""
        points = 1
        for _, vals in self.axes:
            points *= len(vals)
        per = (
            len(self.classes)
            if self.kind == "theory"
            else len(self.models) * len(self.seeds) * len(self.layers)
        )
        return points * per


def load_grid(path) -> SweepGrid:
    """Read and validate a grid file (its base spec relative to the grid's folder).

    Raises:
        SpecError: unreadable or malformed grid or base spec, unknown keys, bad values.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"grid file {str(path)!r} is not a readable file")
    if path.stat().st_size > _MAX_GRID_BYTES:
        raise SpecError(f"grid file {str(path)!r} is larger than 16 MiB")
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"grid file {str(path)!r} is not valid TOML ({exc})") from None
    return parse_grid(data, path.parent, text=text)


def _strings(val, what: str, allowed=None) -> tuple:
    if not isinstance(val, list) or not val or not all(isinstance(v, str) for v in val):
        raise SpecError(f"[sweep] {what} must be a non-empty list of strings")
    if allowed is not None:
        bad = [v for v in val if v not in allowed]
        if bad:
            raise SpecError(
                f"[sweep] {what}: unknown {', '.join(map(repr, bad))} (choose from {', '.join(allowed)})"
            )
    if len(set(val)) != len(val):
        raise SpecError(f"[sweep] {what} has duplicates")
    return tuple(val)


def _ints(val, what: str, lo: int, hi: int) -> tuple:
    if (
        not isinstance(val, list)
        or not val
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in val)
    ):
        raise SpecError(f"[sweep] {what} must be a non-empty list of integers")
    bad = [v for v in val if not lo <= v <= hi]
    if bad:
        raise SpecError(f"[sweep] {what} must be between {lo} and {hi}, got {bad[0]}")
    if len(set(val)) != len(val):
        raise SpecError(f"[sweep] {what} has duplicates")
    return tuple(val)


def parse_grid(data: dict, base_dir=".", *, text: str = "") -> SweepGrid:
    """Validate a parsed grid table (see the module docstring); ``base_dir`` holds the grid file.

    Raises:
        SpecError: as :func:`load_grid`.
    """

    base_dir = Path(base_dir)
    unknown = sorted(set(data) - {"sweep", "axes", "train"})
    if unknown:
        raise SpecError(f"grid: unknown section(s) {', '.join(unknown)} (allowed: sweep, axes, train)")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise SpecError("grid: missing [sweep] table")
    bad = sorted(set(sweep) - _SWEEP_KEYS)
    if bad:
        raise SpecError(
            f"[sweep]: unknown key(s) {', '.join(bad)} (allowed: {', '.join(sorted(_SWEEP_KEYS))})"
        )
    kind = sweep.get("kind")
    if kind not in ("theory", "train"):
        raise SpecError(f'[sweep] kind must be "theory" or "train", got {str(kind)[:40]!r}')
    spec_name = sweep.get("spec")
    if not isinstance(spec_name, str) or not spec_name:
        raise SpecError(
            "[sweep] spec must name the base problem spec (a TOML file, relative to the grid file)"
        )
    spec_path = base_dir / spec_name
    if not spec_path.is_file():
        raise SpecError(f"[sweep] spec {spec_name!r}: no such file next to the grid ({str(spec_path)!r})")
    spec_text = spec_path.read_bytes().decode("utf-8", errors="replace")
    try:
        spec = tomllib.loads(spec_text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"[sweep] spec {spec_name!r} is not valid TOML ({exc})") from None
    wrong = {"theory": ("models", "seeds", "layers"), "train": ("classes",)}[kind]
    present = [k for k in wrong if k in sweep]
    if present:
        raise SpecError(f"[sweep] {', '.join(present)} do not apply to kind = {kind!r}")
    fields_: dict = {}
    if kind == "theory":
        if "classes" in sweep:
            fields_["classes"] = _strings(sweep["classes"], "classes", THEORY_CLASSES)
        if "train" in data:
            raise SpecError('grid: a [train] table applies to kind = "train" only')
    else:
        if "models" not in sweep:
            raise SpecError(f'[sweep] kind = "train" needs models (from {", ".join(MODEL_KINDS)})')
        fields_["models"] = _strings(sweep["models"], "models", tuple(MODEL_KINDS))
        if "seeds" in sweep:
            fields_["seeds"] = _ints(sweep["seeds"], "seeds", 0, 2**32 - 4)
        if "layers" in sweep:
            fields_["layers"] = _ints(sweep["layers"], "layers", 1, 64)
        train = data.get("train", {})
        if not isinstance(train, dict):
            raise SpecError("grid: [train] must be a table of TrainConfig fields")
        fields_["train"] = dict(train)
    axes_tab = data.get("axes", {})
    if not isinstance(axes_tab, dict):
        raise SpecError("grid: [axes] must be a table of dotted keys")
    axes = []
    for name, vals in axes_tab.items():
        parts = name.split(".")
        if len(parts) < 2 or not all(parts):
            raise SpecError(f'[axes] {name!r}: expected a dotted key such as "noise.variance"')
        if parts[0] == "train" and kind != "train":
            raise SpecError(f'[axes] {name!r}: train.* axes apply to kind = "train" only')
        if parts[0] in ("train",) and len(parts) != 2:
            raise SpecError(f"[axes] {name!r}: expected train.<TrainConfig field>")
        if not isinstance(vals, list) or not vals:
            raise SpecError(f"[axes] {name!r} must be a non-empty list of values")
        keys = [json.dumps(v, sort_keys=True) for v in vals]
        if len(set(keys)) != len(keys):
            raise SpecError(f"[axes] {name!r} has duplicate values")
        axes.append((name, tuple(vals)))
    grid = SweepGrid(
        kind=kind,
        spec=spec,
        base_dir=str(spec_path.parent.resolve()),
        axes=tuple(axes),
        text=text,
        spec_text=spec_text,
        **fields_,
    )
    if grid.size > MAX_TASKS:
        raise ResourceLimitError(f"grid: {grid.size:.3g} tasks is more than the supported {MAX_TASKS:.0e}")
    if kind == "train":
        _check_train_fields(grid)
    return grid


def _check_train_fields(grid: SweepGrid) -> None:
    """Refuse [train] keys and train.* axes that are not TrainConfig fields (needs torch)."""
    try:
        from dataclasses import fields

        from wpgd.numerics.nn.train_config import TrainConfig
    except ImportError:  # pragma: no cover - torch missing: grid_tasks refuses training anyway
        return
    known = {f.name for f in fields(TrainConfig)}
    reserved = {"model", "seed", "layers", "progress"}
    names = list(grid.train) + [n.split(".", 1)[1] for n, _ in grid.axes if n.startswith("train.")]
    for name in names:
        if name in reserved:
            raise SpecError(
                f"grid: train setting {name!r} is set by the [sweep] table (models, seeds, layers)"
            )
        if name not in known:
            raise SpecError(f"grid: unknown train setting {name!r} (a TrainConfig field)")


def _set_dotted(spec: dict, name: str, value) -> None:
    node = spec
    parts = name.split(".")
    for depth, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, dict):
            where = ".".join(parts[: depth + 1])
            raise SpecError(f"[axes] {name!r}: {where} is not a table in the base spec")
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _resolve_files(node, base_dir: Path, files: dict):
    """A copy of a spec table with every ``{file = ...}`` made absolute; ``files`` gets their SHA-256."""
    if isinstance(node, dict):
        if set(node) == {"file"} and isinstance(node["file"], str) and node["file"]:
            path = (base_dir / node["file"]).resolve()
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            return {"file": str(path)}
        return {k: _resolve_files(v, base_dir, files) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_files(v, base_dir, files) for v in node]
    return node


def grid_points(grid: SweepGrid) -> list[tuple[dict, dict, dict]]:
    """The grid's points in file order (the last axis varies fastest).

    Returns:
        list of (axis values {dotted name: value}, point spec with absolute file paths,
        train overrides of the point).
    """
    names = grid.axis_names
    out = []
    for combo in itertools.product(*(vals for _, vals in grid.axes)):
        spec = copy.deepcopy(grid.spec)
        train = dict(grid.train)
        for name, val in zip(names, combo):
            if name.startswith("train."):
                train[name.split(".", 1)[1]] = val
            else:
                _set_dotted(spec, name, val)
        out.append((dict(zip(names, combo)), spec, train))
    return out


def _describe(axes: dict) -> str:
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in axes.items()) or "the base spec"


def point_problem(spec: dict, base_dir, axes: dict):
    """The validated problem of one point (a SpecError naming the point otherwise)."""

    try:
        return parse_spec(spec, base_dir)
    except InvalidProblemError as exc:
        raise SpecError(f"grid point {_describe(axes)}: {exc}") from None
