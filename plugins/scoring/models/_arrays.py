"""Small array helpers shared by the scoring models: coercion, validation, weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from crmhub.core.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike


def as_float(values: ArrayLike, name: str) -> FloatArray:
    """Return ``values`` as a 1-d float64 array (a scalar becomes a length-1 array)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def broadcast(*named: tuple[str, ArrayLike]) -> list[FloatArray]:
    """Coerce each ``(name, values)`` to float64 and broadcast them to one common length."""
    arrays = [np.asarray(values, dtype=np.float64) for _, values in named]
    try:
        shaped = np.broadcast_arrays(*arrays)
    except ValueError as exc:
        shapes = ", ".join(f"{n}={a.shape}" for (n, _), a in zip(named, arrays))
        raise InputError(f"array lengths do not match: {shapes}") from exc
    return [np.ascontiguousarray(a, dtype=np.float64) for a in shaped]


def check_rft(x: FloatArray, t_x: FloatArray, T: FloatArray) -> None:
    """Reject impossible customer summaries: negative values, t_x > T, or t_x = 0 with x > 0."""
    if x.size == 0:
        raise InputError("no customers given")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(T))):
        raise InputError("x, t_x and T must be finite numbers")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(T < 0):
        raise InputError("x, t_x and T must not be negative")
    if np.any(t_x > T * (1 + 1e-12)):
        bad = int(np.argmax(t_x > T * (1 + 1e-12)))
        raise InputError(f"recency t_x exceeds age T for row {bad}: t_x={t_x[bad]}, T={T[bad]}")
    if np.any(x != np.round(x)):
        raise InputError("x (repeat purchases) must be whole numbers")


def dot(a: FloatArray, b: FloatArray) -> float:
    """Inner product of two 1-d arrays without BLAS.

    ``a @ b`` goes to a threaded BLAS ``ddot`` whose worker threads spin between calls; on a
    busy machine that made a fit 10x slower than the single-threaded loop used here.
    """
    return float(np.einsum("i,i->", a, b))


def as_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Return ``weights`` as float64 (ones when ``None``), checking length and sign."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = as_float(weights, "weights")
    if w.shape[0] != n:
        raise InputError(f"weights has {w.shape[0]} rows, data has {n}")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise InputError("weights must be finite and non-negative")
    return w


def unpack(params: Any, names: tuple[str, ...]) -> tuple[float, ...]:
    """Read model parameters from a fit result, a NamedTuple, a mapping or a sequence."""
    if hasattr(params, "params"):
        params = params.params
    if isinstance(params, dict):
        values = tuple(float(params[n]) for n in names)
    else:
        values = tuple(float(v) for v in params)
    if len(values) != len(names):
        raise InputError(f"expected {len(names)} parameters {names}, got {len(values)}")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"parameters {names} must be positive and finite, got {values}")
    return values
