"""Old name of :mod:`simulator.seeding` (seeding; the kernels' generators are :mod:`simulator.kernels.rng`).

``from simulator.rng import ...`` keeps working for code written against earlier versions; new code imports
:mod:`simulator.seeding`.
"""
from simulator.seeding import StreamKeys, resolve_seed, seed_from_record, seed_record, seed_sequence

__all__ = ["seed_sequence", "seed_record", "seed_from_record", "resolve_seed", "StreamKeys"]
