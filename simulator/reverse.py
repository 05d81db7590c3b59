"""Reverse stress testing: which moves break the book, and how plausible they are.

Two answers to "what makes the portfolio lose at least ``L`` over the horizon?":

1. **The most likely breach point** (:func:`most_likely_breach`): the factor move over the horizon with
   the highest joint density among those with ``loss >= L``. Moves are mapped to copula space:
   each factor's horizon move ``x_i = F_i^{-1}(Phi(z_i))`` with ``z ~ N(0, R)``, so the most likely
   point minimises the Mahalanobis norm ``z' R^{-1} z`` subject to ``loss(x(z)) >= L`` (the Gaussian
   copula of the moves; for a t copula this is the Gaussian point of its normal scores). The loss is
   any function of the moves, e.g. the full revaluation of a book. Its plausibility: the Mahalanobis
   distance ``d``; ``Phi(-d)``, the probability of a move at least this far in the breach direction
   (exactly ``P(loss >= L)`` for a linear loss of Gaussian moves); and ``P(chi2_k >= d^2)``, that of a
   move at least as far out in any direction (``k`` factors); next to the simulated ``P(loss >= L)``.
2. **The simulated breaches** (:func:`breach_summary`): the paths with ``loss >= L``, their mean move per
   factor, and clusters of breach types (k-means on the standardized moves of the breaching paths).

:func:`reverse_stress` does both from simulated horizon moves: the marginals ``F_i`` are the paths'
empirical quantiles and ``R`` the correlation of their normal scores. For a linear portfolio on a
Gaussian model the most likely point has the closed form ``x* = mu - Sigma w (L + w'mu) / (w'Sigma w)``
with distance ``(L + w'mu) / sqrt(w'Sigma w)``; the tests check it.

Units: moves in the units of the simulated factors (percent log returns for prices); losses positive,
in the portfolio currency.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy import optimize, special, stats

__all__ = ["BreachPoint", "BreachSummary", "ReverseStressResult", "most_likely_breach", "breach_summary",
           "reverse_stress", "gaussian_linear_breach"]


@dataclass(frozen=True)
class BreachPoint:
    """The most likely move with ``loss >= threshold``.

    Attributes
    ----------
    moves : ndarray (k,)
        Factor moves over the horizon.
    z : ndarray (k,)
        Their normal scores.
    loss : float
        The loss at the point (>= threshold, equal when the constraint binds).
    mahalanobis : float
        ``sqrt(z' R^{-1} z)``.
    prob_as_extreme : float
        ``P(chi2_k >= d^2)``: the Gaussian-copula probability of a move at least as far out, in any
        direction.
    prob_halfspace : float
        ``Phi(-d)``: the probability of the half-space beyond the breach point's tangent plane, i.e. of a
        move at least this far in the breach direction; for a linear loss of Gaussian moves it is
        ``P(loss >= L)`` exactly.
    converged : bool
    """

    moves: np.ndarray
    z: np.ndarray
    loss: float
    mahalanobis: float
    prob_as_extreme: float
    prob_halfspace: float
    converged: bool


@dataclass(frozen=True)
class BreachSummary:
    """The simulated paths that breach: count, probability with its standard error, mean move per factor,
    and clusters (``share``, ``n`` and mean ``moves`` of each)."""

    n_paths: int
    n_breach: int
    prob: float
    prob_se: float
    mean_moves: np.ndarray | None
    clusters: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ReverseStressResult:
    """:func:`reverse_stress`'s answer: the threshold, the factors, the point and the breaches."""

    threshold: float
    factors: tuple[str, ...]
    point: BreachPoint
    breaches: BreachSummary

    def to_dict(self) -> dict[str, Any]:
        p, b = self.point, self.breaches
        return {
            "loss_threshold": self.threshold,
            "most_likely_breach": {
                "moves": dict(zip(self.factors, map(float, p.moves))),
                "normal_scores": dict(zip(self.factors, map(float, p.z))),
                "loss": p.loss, "mahalanobis": p.mahalanobis, "prob_as_extreme": p.prob_as_extreme,
                "prob_halfspace": p.prob_halfspace, "converged": p.converged},
            "simulated_breaches": {
                "n_paths": b.n_paths, "n_breach": b.n_breach, "prob": b.prob, "prob_se": b.prob_se,
                "mean_moves": None if b.mean_moves is None else dict(zip(self.factors, map(float, b.mean_moves))),
                "clusters": [{"share": c["share"], "n": c["n"], "moves": dict(zip(self.factors, map(float, c["moves"])))}
                             for c in b.clusters]},
        }


def most_likely_breach(loss: Callable[[np.ndarray], np.ndarray], threshold: float, corr: np.ndarray,
                       ppf: Sequence[Callable[[np.ndarray], np.ndarray]], *, starts: Sequence[np.ndarray] = (),
                       tol: float = 1e-10) -> BreachPoint:
    """The move of highest Gaussian-copula density with ``loss(move) >= threshold``.

    Parameters
    ----------
    loss : callable (m, k) -> (m,)
        Loss of moves, losses positive.
    threshold : float
    corr : ndarray (k, k)
        Correlation of the normal scores.
    ppf : k callables
        ``x_i = ppf[i](u)``: each factor's horizon-move quantile function.
    starts : sequence of ndarray (k,)
        Starting normal scores (the gradient direction and these are tried; the best feasible kept).
    """
    r = np.asarray(corr, dtype=float)
    k = r.shape[0]
    rinv = np.linalg.inv(r)

    def moves(z: np.ndarray) -> np.ndarray:
        u = special.ndtr(np.asarray(z, dtype=float))
        return np.array([f(np.atleast_1d(ui))[0] for f, ui in zip(ppf, u)])

    def f_loss(z):
        return float(np.asarray(loss(moves(z)[None, :])).ravel()[0])

    def obj(z):
        return 0.5 * float(z @ rinv @ z)

    def jac(z):
        return rinv @ z

    cons = {"type": "ineq", "fun": lambda z: f_loss(z) - threshold}
    tries = [np.asarray(s, dtype=float) for s in starts]

    def reach(direction: np.ndarray) -> np.ndarray | None:
        """The direction scaled (up to 8 standard deviations) until the loss reaches the threshold."""
        for scale in np.linspace(0.25, 8.0, 32):
            if f_loss(direction * scale) >= threshold:
                return direction * scale
        return None

    # the steepest loss direction from the origin, then each factor up and down: a flat loss near the
    # origin (e.g. an out-of-the-money option book) still finds a feasible start
    g = np.array([(f_loss(e * 1e-3) - f_loss(-e * 1e-3)) / 2e-3 for e in np.eye(k)])
    dirs = [r @ g / math.sqrt(float(g @ r @ g))] if np.any(g != 0) else []
    dirs += [sign * e for e in np.eye(k) for sign in (1.0, -1.0)] if not tries else []
    for d in dirs:
        z0 = reach(d)
        if z0 is not None:
            tries.append(z0)
    best = None
    for z0 in tries:
        res = optimize.minimize(obj, z0, jac=jac, constraints=[cons], method="SLSQP",
                                options={"maxiter": 500, "ftol": tol})
        z = res.x
        lz = f_loss(z)
        feasible = lz >= threshold - 1e-6 * max(1.0, abs(threshold))
        if feasible and (best is None or obj(z) < obj(best[0])):
            best = (z, lz, bool(res.success))
    if best is None:
        raise ValueError(f"no move found with a loss of at least {threshold:,.2f}: the loss may not reach it "
                         "(check the threshold against the simulated loss distribution)")
    z, lz, ok = best
    d = math.sqrt(2.0 * obj(z))
    return BreachPoint(moves=moves(z), z=z, loss=lz, mahalanobis=d, prob_as_extreme=float(stats.chi2.sf(d * d, k)),
                       prob_halfspace=float(stats.norm.sf(d)), converged=ok)


def _kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 100) -> np.ndarray:
    """Labels of a k-means clustering (k-means++ start, Lloyd iterations)."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())] if d2.sum() > 0 else x[rng.integers(len(x))])
    c = np.array(centres)
    labels = np.zeros(len(x), dtype=int)
    for _ in range(iters):
        new = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        if np.array_equal(new, labels) and _ > 0:
            break
        labels = new
        for j in range(k):
            if np.any(labels == j):
                c[j] = x[labels == j].mean(axis=0)
    return labels


def breach_summary(moves: np.ndarray, losses: np.ndarray, threshold: float, *, n_clusters: int = 3,
                   seed: int = 0) -> BreachSummary:
    """The simulated paths with ``loss >= threshold``: probability (binomial SE), mean move per factor and
    up to ``n_clusters`` breach types (k-means on the moves standardized by their spread over all paths),
    largest first."""
    x = np.asarray(moves, dtype=float)
    lo = np.asarray(losses, dtype=float)
    hit = lo >= threshold
    n, nb = lo.size, int(hit.sum())
    p = nb / n
    se = math.sqrt(p * (1 - p) / n)
    if nb == 0:
        return BreachSummary(n, 0, 0.0, se, None, [])
    xb = x[hit]
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    clusters = []
    k = min(n_clusters, nb)
    if k >= 1:
        labels = _kmeans(xb / sd, k, seed=seed)
        for j in range(k):
            m = labels == j
            if m.any():
                clusters.append({"share": float(m.mean()), "n": int(m.sum()), "moves": xb[m].mean(axis=0)})
        clusters.sort(key=lambda c: -c["share"])
    return BreachSummary(n, nb, p, se, xb.mean(axis=0), clusters)


def reverse_stress(moves: np.ndarray, loss: Callable[[np.ndarray], np.ndarray], threshold: float, *,
                   factors: Sequence[str], n_clusters: int = 3, seed: int = 0) -> ReverseStressResult:
    """Reverse stress test from simulated horizon moves (paths, factors) and a loss function of moves.

    The marginals are the paths' empirical quantile functions (linear between order statistics), the
    copula's correlation that of the normal scores of the ranks; the breaching paths' mean score is
    one starting point of the search."""
    x = np.asarray(moves, dtype=float)
    n, k = x.shape
    if len(factors) != k:
        raise ValueError(f"{len(factors)} factor names for {k} simulated factors")
    ranks = np.argsort(np.argsort(x, axis=0), axis=0)
    scores = special.ndtri((ranks + 0.5) / n)
    corr = np.corrcoef(scores, rowvar=False) if k > 1 else np.ones((1, 1))
    # each factor's quantile function on a grid of 401 normal scores (linear between them): a smoothed
    # empirical quantile function whose slope averages many order statistics, so the search's gradients
    # are not the noise of single spacings
    zgrid = np.linspace(special.ndtri(0.5 / n), special.ndtri(1.0 - 0.5 / n), 401)
    qs = np.quantile(x, special.ndtr(zgrid), axis=0)
    ppf = [lambda u, c=qs[:, i]: np.interp(special.ndtri(np.clip(u, 1e-300, 1.0 - 1e-16)), zgrid, c)
           for i in range(k)]
    losses = np.asarray(loss(x), dtype=float)
    breaches = breach_summary(x, losses, threshold, n_clusters=n_clusters, seed=seed)
    starts = []
    if breaches.n_breach:
        starts.append(scores[losses >= threshold].mean(axis=0))
    point = most_likely_breach(loss, threshold, corr, ppf, starts=starts)
    return ReverseStressResult(float(threshold), tuple(factors), point, breaches)


def gaussian_linear_breach(mu: np.ndarray, cov: np.ndarray, weights: np.ndarray, threshold: float
                           ) -> tuple[np.ndarray, float]:
    """Closed form for a linear loss ``-w'x`` of Gaussian moves ``x ~ N(mu, Sigma)``: the most likely
    point with ``loss >= L`` and its Mahalanobis distance, ``x* = mu - Sigma w (L + w'mu) / (w'Sigma w)``,
    ``d = (L + w'mu) / sqrt(w'Sigma w)``."""
    mu, cov, w = (np.asarray(a, dtype=float) for a in (mu, cov, weights))
    s = float(w @ cov @ w)
    c = (threshold + float(w @ mu)) / s
    return mu - cov @ w * c, (threshold + float(w @ mu)) / math.sqrt(s)
