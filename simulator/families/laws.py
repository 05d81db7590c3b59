"""Innovation laws: one registry entry each (normal, Student-t, skew-t, GARCH-EVT, filtered historical).

An entry (a :class:`Law` subclass registered with :func:`register`) owns the law's model-file parameters
and their validation, and its calibration hook: the ``arch`` distribution that estimates it (or, for a
law estimated in two steps, the arch law whose residuals it is fitted to), arch's parameter names, the
smaller law it nests and whether ``dist="auto"`` tries it. The numerics (quantiles, density, CDF, partial
moments, the kernel's quantile tables) are in :mod:`simulator.tables`, one branch per law in each of its
``marginal_*`` entry points; the kernel never sees a law, only its tables.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from simulator.families._registry import Registry
from simulator.families._values import number

EVT_TAIL_PARAMS: tuple[str, ...] = (
    "threshold_left", "tail_prob_left", "xi_left", "beta_left",
    "threshold_right", "tail_prob_right", "xi_right", "beta_right",
)
#: GPD shapes a model accepts, [0, EVT_XI_LIMIT): a GPD tail has a finite variance only for xi < 1/2
EVT_XI_LIMIT = 0.5
#: most kernel centres an ``fhs`` law may hold (a compact summary of the residuals, never the data)
FHS_MAX_CENTRES = 1000
FHS_MAX_ABS_CENTRE = 100.0
FHS_MAX_BANDWIDTH = 2.0
#: Largest Student-t degrees of freedom (laws and the t copula): beyond it the law is a normal to many digits
#: and its normalising constants (differences of log-gamma values) lose their precision
MAX_NU = 1e6


class Law:
    """Base class of an innovation law's registry entry.

    Class attributes
    ----------------
    name : str
        The model-file ``dist.type``.
    params : tuple of str
        Model-file parameter names (``lambda`` is stored as ``DistSpec.lam``).
    title : str
    arch : str or None
        arch's name of the law (``arch_model(dist=...)``); ``None`` for laws estimated in two steps.
    arch_class : str or None
        Its class in ``arch.univariate`` (for CDFs and moments of fitted laws).
    arch_names : dict
        arch's parameter name -> model-file name.
    base : str or None
        Two-step laws: the arch law whose fit filters the residuals the law is estimated on.
    auto : bool
        Whether ``dist="auto"`` tries it.
    nests : str or None
        The smaller law this one contains with its extra parameters at :attr:`null`.
    null : dict
        Starting values of the parameters this law adds to the one it nests.
    """

    name: ClassVar[str]
    params: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str]
    arch: ClassVar[str | None] = None
    arch_class: ClassVar[str | None] = None
    arch_names: ClassVar[dict[str, str]] = {}
    base: ClassVar[str | None] = None
    auto: ClassVar[bool] = True
    nests: ClassVar[str | None] = None
    null: ClassVar[dict[str, float]] = {}

    def parse(self, d: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Validated :class:`simulator.model.DistSpec` keyword arguments (keys already checked);
        ``where`` names the marginal, errors name ``where + ".dist.<key>"``."""
        out: dict[str, Any] = {}
        if "nu" in self.params:
            nu = number(d["nu"], f"{where}.dist.nu")
            if nu <= 2:
                raise ValueError(f"{where}.dist.nu must be > 2 (finite variance), got {nu!r}")
            if nu > MAX_NU:
                raise ValueError(f"{where}.dist.nu is {nu!r}, above {MAX_NU:g}: the law is a normal to many digits "
                                 "there and its constants lose their precision (use type \"normal\")")
            out["nu"] = nu
        if "lambda" in self.params:
            lam = number(d["lambda"], f"{where}.dist.lambda")
            if not -1 < lam < 1:
                raise ValueError(f"{where}.dist.lambda must lie in (-1, 1), got {lam!r}")
            out["lam"] = lam
        return out

    def arch_vector(self, p: Mapping[str, float]) -> list[float]:
        """The law's part of arch's parameter vector (its filter law's, for a two-step law); a parameter
        ``p`` lacks takes its :attr:`null`."""
        law = LAWS[self.base] if self.base else self
        return [float(p[name]) if name in p else float(law.null[name]) for name in law.params]

    def __repr__(self) -> str:
        return f"<innovation law {self.name!r}: {self.title}>"


LAWS: Registry = Registry("unknown innovation law {name}; valid types: {valid}")
register = LAWS.register


def law(name: str) -> Law:
    """The registry entry of ``name``; ``ValueError`` listing the valid laws."""
    return LAWS.lookup(name)


@register
class Normal(Law):
    name = "normal"
    title = "standard normal"
    arch = "normal"
    arch_class = "Normal"


@register
class StudentT(Law):
    name = "t"
    params = ("nu",)
    title = "standardised Student-t"
    arch = "t"
    arch_class = "StudentsT"
    arch_names = {"nu": "nu"}
    nests = "normal"
    null = {"nu": 30.0}


@register
class SkewT(Law):
    name = "skewt"
    params = ("nu", "lambda")
    title = "Hansen's skewed t (arch's SkewStudent)"
    arch = "skewt"
    arch_class = "SkewStudent"
    arch_names = {"eta": "nu", "lambda": "lambda"}
    nests = "t"
    null = {"nu": 30.0, "lambda": 0.0}


@register
class Evt(Law):
    """GARCH-EVT: the skew-t body with generalised Pareto tails (see :class:`simulator.model.DistSpec`)."""

    name = "evt"
    params = ("nu", "lambda", *EVT_TAIL_PARAMS)
    title = "GARCH-EVT (skew-t body, GPD tails)"
    base = "skewt"

    def parse(self, d, where):
        out = super().parse(d, where)
        tails = {k: number(d[k], f"{where}.dist.{k}") for k in EVT_TAIL_PARAMS}
        for side in ("left", "right"):
            p = tails[f"tail_prob_{side}"]
            if not 0 < p < 0.5:
                raise ValueError(f"{where}.dist.tail_prob_{side} must lie in (0, 0.5) (the probability beyond "
                                 f"the {side} threshold), got {p!r}")
            xi = tails[f"xi_{side}"]
            if not 0 <= xi < EVT_XI_LIMIT:
                raise ValueError(f"{where}.dist.xi_{side} must lie in [0, {EVT_XI_LIMIT}) (GPD shape: a finite "
                                 f"variance needs xi < 0.5; a negative shape would bound the tail), got {xi!r}")
            b = tails[f"beta_{side}"]
            if not b > 0:
                raise ValueError(f"{where}.dist.beta_{side} must be > 0 (GPD scale), got {b!r}")
        if not tails["threshold_left"] < tails["threshold_right"]:
            raise ValueError(f"{where}.dist.threshold_left must be below threshold_right, got "
                             f"{tails['threshold_left']!r} >= {tails['threshold_right']!r}")
        return {**out, **tails}


@register
class Fhs(Law):
    """Filtered historical simulation, smoothed: a Gaussian-kernel law of the standardised residuals."""

    name = "fhs"
    params = ("centres", "bandwidth")
    title = "filtered historical (kernel-smoothed residuals)"
    base = "skewt"
    auto = False

    def parse(self, d, where):
        raw = d["centres"]
        if (not isinstance(raw, (list, tuple)) or isinstance(raw, str)
                or not 2 <= len(raw) <= FHS_MAX_CENTRES):
            got = f"{len(raw)} entries" if isinstance(raw, (list, tuple)) else type(raw).__name__
            raise ValueError(f"{where}.dist.centres must be a list of 2 to {FHS_MAX_CENTRES} numbers (kernel "
                             f"centres on the standardised-residual scale), got {got}")
        centres = tuple(number(v, f"{where}.dist.centres[{i}]") for i, v in enumerate(raw))
        for i, c in enumerate(centres):
            if abs(c) > FHS_MAX_ABS_CENTRE:
                raise ValueError(f"{where}.dist.centres[{i}] must lie in [-{FHS_MAX_ABS_CENTRE:g}, "
                                 f"{FHS_MAX_ABS_CENTRE:g}] (standardised-residual scale), got {c!r}")
        for i in range(len(centres) - 1):
            if centres[i + 1] < centres[i]:
                raise ValueError(f"{where}.dist.centres must be non-decreasing: centres[{i}] = {centres[i]!r} > "
                                 f"centres[{i + 1}] = {centres[i + 1]!r}")
        bw = number(d["bandwidth"], f"{where}.dist.bandwidth")
        if not 0 < bw <= FHS_MAX_BANDWIDTH:
            raise ValueError(f"{where}.dist.bandwidth must lie in (0, {FHS_MAX_BANDWIDTH:g}] (kernel standard "
                             f"deviation on the asinh scale), got {bw!r}")
        return {"centres": centres, "bandwidth": bw}
