"""The conditional-variance recursions: one step of every volatility family, the only place they are written.

:func:`variance_step` advances one asset's conditional variance by one day. It branches on the family's
kernel code (:attr:`simulator.families.VolFamily.code`) and reads the family's parameters from ``vpar[k, a]``
(slot 0 is the mean ``mu``; slots 1.. hold the family's parameters in the order of
:attr:`~simulator.families.VolFamily.params`, as :meth:`~simulator.families.VolFamily.kernel_params` packs
them). The path kernel (:mod:`simulator.kernels.paths`) calls the compiled function on both targets;
the numpy filter every other module uses (:func:`simulator.families.variance_path`: shocks' replay
residuals, the collapse loop's end state, backtests, ``MarginalSpec.filter``) calls this very source as
plain Python, so there is one recursion.

A new volatility family adds one branch here (its code, its parameters from ``vpar[k, a, 1:]``) and
one registry entry in :mod:`simulator.families.volatility`.
"""
import math

from simulator.kernels._targets import INLINE, cpu_compile

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def variance_step(code, vpar, k, a, s2, e):
    """Tomorrow's conditional variance (percent^2) from today's ``s2`` and residual ``e = r - mu`` (percent).

    Codes and parameters (``vpar[k, a, 1:]``), as in ``arch``:

    - 0 ``garch`` (omega, alpha, beta): ``s2' = omega + alpha e^2 + beta s2``;
    - 1 ``gjr`` (omega, alpha, gamma, beta): ``s2' = omega + (alpha + gamma 1{e<0}) e^2 + beta s2``;
    - 2 ``egarch`` (omega, alpha, gamma, beta): ``ln s2' = omega + alpha (|z| - sqrt(2/pi)) + gamma z
      + beta ln s2``, ``z = e / sqrt(s2)``;
    - 3 ``aparch`` (omega, alpha, gamma, beta, delta): ``s2'^(delta/2) = omega + alpha (|e| - gamma e)^delta
      + beta s2^(delta/2)``.
    """
    if code == 0:
        return vpar[k, a, 1] + vpar[k, a, 2] * e * e + vpar[k, a, 3] * s2
    if code == 1:
        alpha = vpar[k, a, 2]
        gamma = vpar[k, a, 3]  # loaded whatever the sign: a select of values, not a conditional load
        alpha = alpha + gamma if e < 0.0 else alpha
        return vpar[k, a, 1] + alpha * e * e + vpar[k, a, 4] * s2
    if code == 3:
        delta = vpar[k, a, 5]
        power = (vpar[k, a, 1] + vpar[k, a, 2] * (abs(e) - vpar[k, a, 3] * e) ** delta
                 + vpar[k, a, 4] * s2 ** (0.5 * delta))
        return power ** (2.0 / delta)
    z = e / math.sqrt(s2)
    return math.exp(vpar[k, a, 1] + vpar[k, a, 2] * (abs(z) - SQRT_2_OVER_PI) + vpar[k, a, 3] * z
                    + vpar[k, a, 4] * math.log(s2))


def _variance_pass(code, vpar, kl, k, a, s2a, ea, n_lanes):
    if kl.shape[0] == 0:
        for l in range(n_lanes):
            s2a[l] = variance_step(code, vpar, k, a, s2a[l], ea[l])
    else:
        for l in range(n_lanes):
            v = variance_step(code, vpar, k, a, s2a[l], ea[l])
            s2a[l] = v if kl[l] == k else s2a[l]


def variance_lanes(code, vpar, kl, k, a, s2a, ea, n_lanes):
    """``s2a[l] = variance_step(code, vpar, k, a, s2a[l], ea[l])`` for every lane ``l < n_lanes`` of a block of paths
    (:mod:`simulator.kernels.paths`) in regime ``k``: all of them when ``kl`` is empty, else those with
    ``kl[l] == k`` (the others keep their value). GARCH and GJR get a pass of their own with the code a constant,
    so that the compiler keeps that branch alone and vectorises the pass across lanes (the parameters are the
    same for every lane: one load each, no per-lane gather)."""
    if code == 0:
        _variance_pass(0, vpar, kl, k, a, s2a, ea, n_lanes)
    elif code == 1:
        _variance_pass(1, vpar, kl, k, a, s2a, ea, n_lanes)
    else:
        _variance_pass(code, vpar, kl, k, a, s2a, ea, n_lanes)


cpu_compile(globals(), {"variance_step": INLINE, "_variance_pass": INLINE, "variance_lanes": INLINE})
