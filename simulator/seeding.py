"""Seeding: one user seed → ``SeedSequence`` → streams (the kernels' random generators are
:mod:`simulator.kernels.rng`).

:func:`seed_sequence` is the one place a user's seed (None, int, ``SeedSequence`` or ``Generator``) becomes
a ``SeedSequence``; every part of stress-sim that accepts a seed calls it. :func:`resolve_seed` turns that
into the two 64-bit keys of a simulation: every path's stream is derived inside the kernel from (key0,
key1, global path index), so results are identical whatever the chunk size, thread count, worker count
or backend. The seed's entropy and spawn key are recorded in results (:func:`seed_record`) so a run can
be replayed exactly (:func:`seed_from_record`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["seed_sequence", "seed_record", "seed_from_record", "resolve_seed", "StreamKeys"]


@dataclass(frozen=True)
class StreamKeys:
    """The two stream keys of a run plus what is needed to replay it."""

    key0: np.uint64
    key1: np.uint64
    entropy: int | tuple[int, ...]
    spawn_key: tuple[int, ...]

    def to_dict(self) -> dict:
        ent = str(self.entropy) if isinstance(self.entropy, int) else [str(v) for v in self.entropy]
        return {"entropy": ent, "spawn_key": list(self.spawn_key)}


def seed_sequence(seed) -> np.random.SeedSequence:
    """The ``SeedSequence`` of a user's seed: the one seed normaliser of stress-sim.

    Parameters
    ----------
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        ``None`` draws fresh OS entropy (recorded in results, so the run can still be replayed); an int
        must be non-negative; a ``SeedSequence`` is used as is; a ``Generator`` contributes 128 bits drawn
        from it (two draws below 2**63, combined as ``(hi << 63) | lo``), advancing it.

    Raises
    ------
    TypeError
        Any other type (a bool included).
    ValueError
        A negative integer.
    """
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        hi, lo = (int(v) for v in seed.integers(0, 2**63, size=2))
        return np.random.SeedSequence((hi << 63) | lo)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(int(seed))
    raise TypeError(
        f"seed must be None, a non-negative int, numpy.random.SeedSequence or Generator; got {type(seed).__name__}"
    )


def seed_record(ss: np.random.SeedSequence) -> dict:
    """What results store to replay ``ss``: ``{"entropy": str or [str, ...], "spawn_key": [int, ...]}``."""
    ent = ss.entropy
    return {"entropy": str(ent) if isinstance(ent, int) else [str(v) for v in (ent or ())],
            "spawn_key": [int(v) for v in (ss.spawn_key or ())]}


def resolve_seed(seed) -> StreamKeys:
    """Turn ``seed`` (see :func:`seed_sequence`) into the stream keys of a simulation."""
    ss = seed_sequence(seed)
    k = ss.generate_state(2, np.uint64)
    entropy = ss.entropy if isinstance(ss.entropy, int) else tuple(int(v) for v in (ss.entropy or ()))
    return StreamKeys(np.uint64(k[0]), np.uint64(k[1]), entropy, tuple(int(v) for v in (ss.spawn_key or ())))


def seed_from_record(record: dict) -> np.random.SeedSequence:
    """Rebuild the ``SeedSequence`` stored by :func:`seed_record` / :meth:`StreamKeys.to_dict` (for replaying
    a run)."""
    ent = record["entropy"]
    ent = int(ent) if isinstance(ent, str) else [int(v) for v in ent]
    return np.random.SeedSequence(ent, spawn_key=tuple(record.get("spawn_key", ())))
