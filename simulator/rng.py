"""Reproducible randomness: one user seed → ``SeedSequence`` → two 64-bit stream keys.

Every path's stream is derived inside the kernel from (key0, key1, global path index), so results
are identical whatever the chunk size, thread count, worker count or backend. The seed's entropy
and spawn key are recorded in results so a run can be replayed exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def resolve_seed(seed) -> StreamKeys:
    """Turn ``seed`` (None, int, ``SeedSequence`` or ``Generator``) into stream keys.

    ``None`` draws fresh OS entropy (recorded, so the run can still be replayed); a ``Generator``
    contributes 128 bits drawn from it.
    """
    if seed is None:
        ss = np.random.SeedSequence()
    elif isinstance(seed, np.random.SeedSequence):
        ss = seed
    elif isinstance(seed, np.random.Generator):
        hi, lo = (int(v) for v in seed.integers(0, 2**63, size=2))
        ss = np.random.SeedSequence((hi << 63) | lo)
    elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        ss = np.random.SeedSequence(int(seed))
    else:
        raise TypeError(
            f"seed must be None, a non-negative int, numpy.random.SeedSequence or Generator; got {type(seed).__name__}"
        )
    k = ss.generate_state(2, np.uint64)
    entropy = ss.entropy if isinstance(ss.entropy, int) else tuple(int(v) for v in ss.entropy)
    return StreamKeys(np.uint64(k[0]), np.uint64(k[1]), entropy, tuple(int(v) for v in ss.spawn_key))


def seed_from_record(record: dict) -> np.random.SeedSequence:
    """Rebuild the ``SeedSequence`` stored by :meth:`StreamKeys.to_dict` (for replaying a run)."""
    ent = record["entropy"]
    ent = int(ent) if isinstance(ent, str) else [int(v) for v in ent]
    return np.random.SeedSequence(ent, spawn_key=tuple(record.get("spawn_key", ())))
