"""Training checkpoints: written atomically with a content digest, read safely, validated before use.

A checkpoint is a ``torch.save`` of a dict of tensors and plain Python values (no pickled code):
config, problem fingerprint, step, model / optimizer / scheduler state, data-generator state,
history, training-loss EMA, restart attempt and the run's schedule record. It is read with
``torch.load(weights_only=True)`` (a pickle that asks for anything but tensors and containers is
refused, not executed), and then checked before any of it is used: the structure and types of
every entry, a SHA-256 digest over all of it (so a flipped bit in a tensor is caught, not trained
on), finite values, and — in :func:`restore` — the shapes and dtypes of the model and optimizer
state against the freshly built model, and the generator state against the run's generator.

Any problem raises :class:`CheckpointError` (an ``InvalidProblemError``: the CLI prints one line
and exits 2) whose message reads ``checkpoint unreadable: <why>; use --no-resume``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import warnings
from pathlib import Path

import torch

from wpgd.numerics.core.errors import InvalidProblemError
from wpgd.numerics.core.fileio import write_atomic
from wpgd.numerics.nn.adamw import keep_implementation

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "restore", "state_digest"]

FORMAT = 2
_REQUIRED = {
    "config": dict, "problem": dict, "step": int, "model": dict, "optimizer": dict, "scheduler": dict,
    "generator": torch.Tensor, "history": list, "attempt": int,
}


class CheckpointError(InvalidProblemError):
    """A checkpoint that cannot be used (missing pieces, damaged, or not a checkpoint at all).

    The message is ``checkpoint unreadable: <why>; use --no-resume``; ``path`` and ``why`` are
    kept as attributes.
    """

    def __init__(self, path, why: str):
        self.path, self.why = str(path), why
        super().__init__(f"checkpoint unreadable: {self.path}: {why}; use --no-resume")


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous().reshape(-1)
    head = str((t.dtype, tuple(t.shape))).encode()
    return head + (t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def state_digest(obj) -> str:
    """SHA-256 over a nested structure of dicts, lists, tensors and JSON scalars (key order fixed)."""
    h = hashlib.sha256()

    def walk(x):
        if isinstance(x, torch.Tensor):
            h.update(b"T")
            h.update(_tensor_bytes(x))
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=str):
                h.update(repr(k).encode())
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                walk(v)
            h.update(b"]")
        else:
            h.update(json.dumps(x, sort_keys=True, default=repr).encode())

    walk(obj)
    return h.hexdigest()


def save_checkpoint(path, state: dict) -> None:
    """Write ``state`` (with its format number and digest added) atomically to ``path``."""

    body = {**state, "format": FORMAT}
    body["digest"] = state_digest(body)
    buf = io.BytesIO()
    torch.save(body, buf)
    write_atomic(Path(path), buf.getvalue())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    msg = msg[:160] + ("…" if len(msg) > 160 else "")
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _finite(t: torch.Tensor) -> bool:
    return not t.is_floating_point() or bool(torch.isfinite(t).all())


def load_checkpoint(path) -> dict:
    """Read and validate a checkpoint written by :func:`save_checkpoint` (tensors only; no code runs).

    Raises:
        CheckpointError: the file is empty, truncated, not a torch checkpoint, a pickle asking for
            code, damaged (digest mismatch), or lacks or mistypes an entry.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4" for a foreign pickle
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("Unsupported")),
                      None)
        why = "not a tensors-only torch checkpoint (refused unread by the weights-only loader"
        raise CheckpointError(path, why + (f": {detail[:160]})" if detail else ")")) from None
    except Exception as exc:  # torch raises many kinds (RuntimeError, OSError, EOFError, UnicodeDecodeError...)
        raise CheckpointError(path, f"not a readable torch checkpoint ({_first_line(exc)})") from None
    _check_structure(path, state)
    return state


def _check_structure(path, state) -> None:
    from wpgd.numerics.nn.train_config import TrainConfig

    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a dict of run state, found {type(state).__name__}")
    missing = sorted(k for k in _REQUIRED if k not in state)
    if missing:
        raise CheckpointError(path, f"missing entr{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}")
    for key, typ in _REQUIRED.items():
        if not isinstance(state[key], typ) or (typ is int and isinstance(state[key], bool)):
            raise CheckpointError(path, f"entry {key!r} is a {type(state[key]).__name__}, expected {typ.__name__}")
    if "digest" in state:
        body = {k: v for k, v in state.items() if k != "digest"}
        if state["digest"] != state_digest(body):
            raise CheckpointError(path, "its content does not match its digest (the file is damaged)")
    elif state.get("format") is not None:
        raise CheckpointError(path, "its digest is missing")
    try:
        cfg = TrainConfig.from_dict(state["config"])
    except (InvalidProblemError, TypeError, ValueError) as exc:
        raise CheckpointError(path, f"its config is invalid ({exc})") from None
    if not 0 <= state["step"] <= cfg.steps:
        raise CheckpointError(path, f"step {state['step']} is outside 0..{cfg.steps}")
    if not 0 <= state["attempt"] <= max(cfg.restarts, 0):
        raise CheckpointError(path, f"restart attempt {state['attempt']} is outside 0..{cfg.restarts}")
    for name, t in state["model"].items():
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise CheckpointError(path, "the model state is not a mapping of names to tensors")
        if not _finite(t):
            raise CheckpointError(path, f"model tensor {name!r} has non-finite values")
    opt = state["optimizer"]
    if not isinstance(opt.get("state"), dict) or not isinstance(opt.get("param_groups"), list):
        raise CheckpointError(path, "the optimizer state lacks 'state' or 'param_groups'")
    for pid, st in opt["state"].items():
        if not isinstance(st, dict) or not all(isinstance(v, torch.Tensor) and _finite(v) for v in st.values()):
            raise CheckpointError(path, f"the optimizer state of parameter {pid} is damaged")
    if not isinstance(state["scheduler"].get("last_epoch"), int):
        raise CheckpointError(path, "the scheduler state lacks its step")
    gen = state["generator"]
    if gen.dtype != torch.uint8 or gen.ndim != 1:
        raise CheckpointError(path, "the data-generator state is not a byte tensor")
    if not all(isinstance(h, dict) for h in state["history"]):
        raise CheckpointError(path, "the history is not a list of records")
    ema = state.get("ema")
    if ema is not None and not (isinstance(ema, float) and math.isfinite(ema)):
        raise CheckpointError(path, "the training-loss average is not a finite number")


def restore(path, state: dict, model, optimizer, scheduler, generator) -> None:
    """Load a validated checkpoint ``state`` into freshly built run objects, checking that it fits.

    Raises:
        CheckpointError: parameter names, shapes or dtypes differ from ``model``, the optimizer
            state does not fit its parameters, or the generator state is refused.
    """
    own = model.state_dict()
    saved = state["model"]
    if set(own) != set(saved):
        diff = sorted(set(own) ^ set(saved))
        raise CheckpointError(path, f"its model has different parameters ({', '.join(diff[:4])})")
    for k, t in own.items():
        if saved[k].shape != t.shape or saved[k].dtype != t.dtype:
            raise CheckpointError(path, f"model tensor {k!r} is {tuple(saved[k].shape)} {saved[k].dtype}, "
                                        f"expected {tuple(t.shape)} {t.dtype}")
    groups = state["optimizer"]["param_groups"]
    own_groups = optimizer.param_groups
    if len(groups) != len(own_groups) or any(
            not isinstance(g, dict) or len(g.get("params", ())) != len(o["params"]) for g, o in zip(groups, own_groups)):
        raise CheckpointError(path, "its optimizer state has a different parameter layout")
    if state["step"] > 0 and not state["optimizer"]["state"]:
        raise CheckpointError(path, f"its optimizer state is empty at step {state['step']}")
    params = [p for o in own_groups for p in o["params"]]
    ids = [i for g in groups for i in g["params"]]
    by_id = dict(zip(ids, params))
    for pid, st in state["optimizer"]["state"].items():
        p = by_id.get(pid)
        if p is None:
            raise CheckpointError(path, f"its optimizer state names an unknown parameter {pid!r}")
        for key in ("exp_avg", "exp_avg_sq"):
            if key not in st or st[key].shape != p.shape:
                raise CheckpointError(path, f"optimizer {key} of parameter {pid} is missing or misshapen")
    try:
        model.load_state_dict(saved)
        keep_implementation(optimizer, lambda: optimizer.load_state_dict(state["optimizer"]))
        scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CheckpointError(path, f"its state does not fit the run ({_first_line(exc)})") from None
    gen_state = state["generator"]
    if gen_state.numel() != generator.get_state().numel():
        raise CheckpointError(path, f"the data-generator state has {gen_state.numel()} bytes, "
                                    f"expected {generator.get_state().numel()}")
    try:
        generator.set_state(gen_state)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(path, f"the data-generator state is refused ({_first_line(exc)})") from None
