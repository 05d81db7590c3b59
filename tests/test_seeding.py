"""One seeding function: :func:`simulator.seeding.seed_sequence` (numpy's conventions, DESIGN convention 4)."""
from __future__ import annotations

import numpy as np
import pytest

from simulator.seeding import resolve_seed, seed_from_record, seed_record, seed_sequence


def test_accepted_seeds():
    assert seed_sequence(7).entropy == 7
    assert seed_sequence(np.int64(7)).entropy == 7
    ss = np.random.SeedSequence(11, spawn_key=(2,))
    assert seed_sequence(ss) is ss
    fresh = seed_sequence(None)
    assert isinstance(fresh.entropy, int) and fresh.entropy > 0


def test_a_generator_contributes_128_bits_and_advances():
    g, h = np.random.default_rng(3), np.random.default_rng(3)
    hi, lo = (int(v) for v in h.integers(0, 2**63, size=2))
    assert seed_sequence(g).entropy == (hi << 63) | lo
    assert g.integers(0, 2**63) == h.integers(0, 2**63)  # both advanced by the same two draws


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (True, TypeError), (1.5, TypeError), ("7", TypeError),
                                     ([1, 2], TypeError)])
def test_bad_seeds_name_the_valid_kinds(bad, exc):
    with pytest.raises(exc, match="seed must be"):
        seed_sequence(bad)


def test_records_round_trip():
    for ss in (np.random.SeedSequence(5), np.random.SeedSequence([1, 2, 3], spawn_key=(4, 0))):
        back = seed_from_record(seed_record(ss))
        assert np.array_equal(back.generate_state(4), ss.generate_state(4))
        assert seed_record(ss) == resolve_seed(ss).to_dict()


def test_the_engine_and_the_old_module_use_it():
    import simulator.rng as old

    assert old.seed_sequence is seed_sequence and old.resolve_seed is resolve_seed
    keys = resolve_seed(np.random.default_rng(9))
    ss = seed_sequence(np.random.default_rng(9))
    assert (int(keys.key0), int(keys.key1)) == tuple(int(v) for v in ss.generate_state(2, np.uint64))
