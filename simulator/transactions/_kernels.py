"""Numba kernels of the transaction feed (arrays and scalars in, arrays out).

``apply_balances`` walks a time-ordered window once and keeps every wallet's balance exact: the
same rule for every row, legitimate or fraudulent, so balances carry no label by construction.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["apply_balances", "apply_balances_python"]

CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER, DEPOSIT = 0, 1, 2, 3, 4, 5


@njit(cache=True, inline="always")
def _cents(x):
    return np.floor(x * 100.0 + 0.5) / 100.0


def apply_balances_python(cat, cust, dest, amount, amode, pre_declined, balance, target, last_in,
                          out_amount, declined, orig_before, orig_after, dest_before, dest_after, keep):
    """Apply one time-ordered window of wallet actions to ``balance`` (updated in place).

    Parameters
    ----------
    cat : int16 array (n,)
        Action code: 0 CASH_IN, 1 CASH_OUT, 2 DEBIT, 3 PAYMENT, 4 TRANSFER, 5 DEPOSIT (external income).
    cust, dest : int64 arrays (n,)
        Originating account; destination account for transfers (-1 otherwise).
    amount : float64 array (n,)
        Amount in currency units (``amode`` 0 and 2) or fraction of the available balance (``amode == 1``).
    amode : int8 array (n,)
        0: fixed amount; 1: that fraction of the balance; 2: the amount, or the whole balance if less
        is available (a customer taking what is left); 3: top the wallet up to ``target`` (a deposit;
        the row is dropped, ``keep`` false, when the wallet already holds at least that); 4: that
        fraction of the last transfer the account received (a mule passing money on), or what is left.
    pre_declined : bool array (n,)
        Declined for a reason other than funds (risk rules, technical).
    balance : float64 array (n_accounts,)
        Balances before the window; updated in place.
    target : float64 array (n_accounts,)
        Usual balance of each account (what deposits top up to).
    last_in : float64 array (n_accounts,)
        Amount of the last transfer each account received; updated in place.
    out_amount, declined, orig_before, orig_after, dest_before, dest_after, keep : arrays (n,)
        Outputs: final amount (rounded to cents), declined flag (pre-declined or insufficient funds),
        originator and destination balances before / after (destination NaN unless a transfer), and
        whether the row exists (false only for deposits into a full wallet).
    """
    n = cat.shape[0]
    for i in range(n):
        c = cust[i]
        b = balance[c]
        a = amount[i]
        keep[i] = True
        if amode[i] == 1:
            a = b if a >= 1.0 else np.floor(a * b * 100.0 + 1e-6) / 100.0
        elif amode[i] == 2 and a > b and cat[i] != CASH_IN and cat[i] != DEPOSIT:
            a = np.floor(b * 100.0) / 100.0
        elif amode[i] == 4:
            a = np.floor(a * last_in[c] * 100.0) / 100.0
            if a > b:
                a = np.floor(b * 100.0) / 100.0
        elif amode[i] == 3:
            a = np.floor((target[c] - b) * 100.0) / 100.0
            if a < 1.0:
                keep[i] = False
                a = 0.0
        out_amount[i] = a
        orig_before[i] = b
        d = dest[i]
        if d >= 0:
            dest_before[i] = balance[d]
        else:
            dest_before[i] = np.nan
        dec = pre_declined[i]
        k = cat[i]
        if not keep[i]:
            dec = True
        elif not dec:
            if k == CASH_IN or k == DEPOSIT:
                b = _cents(b + a)
            elif a <= 0.0 or a > b + 1e-9:
                dec = True
            else:
                b = _cents(b - a)
                if d >= 0:
                    balance[d] = _cents(balance[d] + a)
                    last_in[d] = a
        balance[c] = b
        declined[i] = dec
        orig_after[i] = b
        if d >= 0:
            dest_after[i] = balance[d]
        else:
            dest_after[i] = np.nan


apply_balances = njit(cache=True, nogil=True)(apply_balances_python)


def build_alias_python(weights, group_first, group_count, prob, alias):
    """Walker/Vose alias tables for several groups of contiguous weights (filled in place).

    For group ``g`` covering ``weights[first:first + count]`` a draw is ``j = first + floor(u * count)``,
    kept if ``v < prob[j]``, else replaced by ``alias[j]`` (a global index inside the same group):
    O(1) per draw, exact probabilities ``weights / weights[group].sum()``.
    """
    n_groups = group_first.shape[0]
    small = np.empty(weights.shape[0], dtype=np.int64)
    large = np.empty(weights.shape[0], dtype=np.int64)
    for g in range(n_groups):
        first = group_first[g]
        count = group_count[g]
        if count == 0:
            continue
        total = 0.0
        for j in range(first, first + count):
            total += weights[j]
        ns = 0
        nl = 0
        for j in range(first, first + count):
            p = weights[j] * count / total if total > 0 else 1.0
            prob[j] = p
            alias[j] = j
            if p < 1.0:
                small[ns] = j
                ns += 1
            else:
                large[nl] = j
                nl += 1
        while ns > 0 and nl > 0:
            ns -= 1
            s = small[ns]
            l = large[nl - 1]
            alias[s] = l
            prob[l] = prob[l] + prob[s] - 1.0
            if prob[l] < 1.0:
                nl -= 1
                small[ns] = l
                ns += 1
        for i in range(nl):
            prob[large[i]] = 1.0
        for i in range(ns):
            prob[small[i]] = 1.0


build_alias = njit(cache=True)(build_alias_python)
