"""Numba kernels of the transaction feed (arrays and scalars in, arrays out).

``apply_balances`` walks a time-ordered window once and keeps every wallet's balance exact: the
same rule for every row, legitimate or fraudulent, so balances carry no label by construction.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["apply_balances", "apply_balances_python"]

CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER = 0, 1, 2, 3, 4


def apply_balances_python(cat, cust, dest, amount, amode, pre_declined, balance,
                          out_amount, declined, orig_before, orig_after, dest_before, dest_after):
    """Apply one time-ordered window of wallet actions to ``balance`` (updated in place).

    Parameters
    ----------
    cat : int16 array (n,)
        Action code: 0 CASH_IN, 1 CASH_OUT, 2 DEBIT, 3 PAYMENT, 4 TRANSFER.
    cust, dest : int64 arrays (n,)
        Originating account; destination account for transfers (-1 otherwise).
    amount : float64 array (n,)
        Amount in currency units (``amode == 0``) or fraction of the available balance (``amode == 1``).
    amode : int8 array (n,)
    pre_declined : bool array (n,)
        Declined for a reason other than funds (risk rules, technical).
    balance : float64 array (n_accounts,)
        Balances before the window; updated in place.
    out_amount, declined, orig_before, orig_after, dest_before, dest_after : arrays (n,)
        Outputs: final amount (rounded to cents), declined flag (pre-declined or insufficient funds),
        originator and destination balances before / after (destination NaN unless a transfer).
    """
    n = cat.shape[0]
    for i in range(n):
        c = cust[i]
        b = balance[c]
        a = amount[i]
        if amode[i] == 1:
            a = np.floor(a * b * 100.0) / 100.0
        out_amount[i] = a
        orig_before[i] = b
        d = dest[i]
        if d >= 0:
            dest_before[i] = balance[d]
        else:
            dest_before[i] = np.nan
        dec = pre_declined[i]
        k = cat[i]
        if not dec:
            if k == CASH_IN:
                b = b + a
            elif a <= 0.0 or a > b + 1e-9:
                dec = True
            else:
                b = b - a
                if d >= 0:
                    balance[d] = balance[d] + a
        balance[c] = b
        declined[i] = dec
        orig_after[i] = b
        if d >= 0:
            dest_after[i] = balance[d]
        else:
            dest_after[i] = np.nan


apply_balances = njit(cache=True, nogil=True)(apply_balances_python)
