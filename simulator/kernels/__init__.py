"""All numba code: arrays and scalars in, arrays out. No Python objects cross this boundary."""
