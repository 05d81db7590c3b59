"""The family registries: every registered entry against independent references.

Volatility families: the numpy filter (the kernel's own recursion run as Python) against arch's recursion
(``arch_model(...).fix(params).conditional_volatility``) for every entry, and the compiled kernel step
against the same source bit for bit. Copula families: Kendall's tau against closed forms written here and
the elliptical-equivalent correlation's form. The registries themselves: unique codes, arch names that map
onto the model-file parameters.
"""
import math

import numpy as np
import pytest
from scipy import integrate

from simulator.families import COPULA_FAMILIES, LAWS, VOL_FAMILIES, kernel_width, variance_path
from simulator.model import DistSpec, MarketModel

#: one valid parameter set per family, as arch names them (model-file names)
VOL_PARAMS = {
    "garch": {"omega": 0.03, "alpha": 0.09, "beta": 0.89},
    "gjr": {"omega": 0.02, "alpha": 0.03, "gamma": 0.12, "beta": 0.88},
    "egarch": {"omega": 0.01, "alpha": 0.15, "gamma": -0.08, "beta": 0.97},
    "aparch": {"omega": 0.03, "alpha": 0.07, "gamma": 0.4, "beta": 0.91, "delta": 1.4},
}


def _params(name):
    if name not in VOL_PARAMS:
        pytest.fail(f"volatility family {name!r} has no parameter set in tests/test_families.py VOL_PARAMS")
    return VOL_PARAMS[name]


def test_registries_are_consistent():
    codes = [f.code for f in VOL_FAMILIES.values()]
    assert sorted(codes) == list(range(len(codes)))  # the kernel's branches, 0..n-1
    assert kernel_width() == 1 + max(len(f.params) for f in VOL_FAMILIES.values())
    for f in VOL_FAMILIES.values():
        assert sorted(f.arch_names.values()) == sorted(f.params), f.name
        assert set(f.null) <= set(f.params) and all(n in VOL_FAMILIES for n in f.nests)
    assert sorted(f.code for f in COPULA_FAMILIES.values()) == list(range(len(COPULA_FAMILIES)))
    for law in LAWS.values():
        assert law.base is None or LAWS[law.base].arch, law.name
        assert law.nests is None or law.nests in LAWS


@pytest.mark.parametrize("name", list(VOL_FAMILIES))
def test_variance_filter_matches_arch_recursion(name):
    """variance_path from arch's first conditional variance reproduces arch's whole filtered path."""
    from arch import arch_model

    fam, p = VOL_FAMILIES[name], _params(name)
    rng = np.random.default_rng(5)
    y = 0.04 + rng.standard_t(6, size=600) * 1.1
    am = arch_model(y, mean="Constant", dist="normal", rescale=False, **fam.arch)
    res = am.fix(np.array([0.04, *fam.arch_vector(p)]))
    s2_arch = np.asarray(res.conditional_volatility) ** 2
    e = np.asarray(res.resid)
    ours = variance_path(fam, p, s2_arch[0], e[:-1])
    np.testing.assert_allclose(ours, s2_arch[1:], rtol=1e-11)
    # the model's filter is the same recursion: day t's variance from the days before it
    model = MarketModel.from_dict({"assets": ["X"], "marginals": [{"mean": {"mu": 0.04}, "vol": {"type": name, **p},
                                                                   "dist": {"type": "normal"}}],
                                   "copula": {"type": "independent"}})
    m = model.marginals[0]
    np.testing.assert_allclose(m.filter(y[1:], sigma2=s2_arch[0], resid=e[0]), s2_arch[1:], rtol=1e-11)
    assert m.vol.next_variance(s2_arch[0], e[0]) == ours[0]


@pytest.mark.parametrize("name", list(VOL_FAMILIES))
def test_compiled_kernel_step_equals_its_python_source(name):
    from simulator.kernels.variance import variance_step

    fam, p = VOL_FAMILIES[name], _params(name)
    vpar = np.zeros((1, 1, kernel_width()))
    vpar[0, 0, 1:1 + len(fam.params)] = fam.kernel_params(p)
    rng = np.random.default_rng(1)
    for s2, e in zip(rng.uniform(0.1, 9.0, 200), rng.normal(0.0, 2.0, 200)):
        a = variance_step(fam.code, vpar, 0, 0, float(s2), float(e))
        b = variance_step.py_func(fam.code, vpar, 0, 0, float(s2), float(e))
        assert a == pytest.approx(b, rel=1e-15, abs=0.0), (name, s2, e)


@pytest.mark.parametrize("name", list(VOL_FAMILIES))
def test_stress_scaling_multiplies_the_long_run_volatility(name):
    fam, p = VOL_FAMILIES[name], _params(name)
    law = DistSpec("normal")
    for k in (0.5, 2.0):
        ratio = fam.start_variance(fam.scaled(p, k), law) / fam.start_variance(p, law)
        assert ratio == pytest.approx(k * k, rel=1e-12), (name, k)


def _frank_tau(theta):
    debye1 = integrate.quad(lambda x: x / math.expm1(x), 0, theta)[0] / theta
    return 1 - 4 / theta * (1 - debye1)


@pytest.mark.parametrize("name,theta,tau", [
    ("clayton", 2.0, 0.5), ("clayton", 0.4, 0.4 / 2.4), ("gumbel", 2.0, 0.5), ("gumbel", 1.25, 0.2),
    ("frank", 5.7363, _frank_tau(5.7363)), ("frank", 1.0, _frank_tau(1.0)),
])
def test_archimedean_tau_and_equivalent_correlation(name, theta, tau):
    fam = COPULA_FAMILIES[name]
    assert fam.tau(theta) == pytest.approx(tau, rel=1e-10)
    assert fam.theta_of_tau(tau) == pytest.approx(theta, rel=1e-8)
    m, basis = fam.equivalent_correlation({"theta": theta}, 3)
    assert np.all(np.diag(m) == 1.0) and m[0, 1] == m[2, 1] == pytest.approx(math.sin(math.pi * tau / 2))
    assert name in basis and "Kendall" in basis
    np.testing.assert_allclose(fam.kendall_tau({"theta": theta}, 3)[0, 1:], tau, rtol=1e-10)


def test_elliptical_tau_and_kernel_packing():
    corr = np.array([[1.0, 0.6], [0.6, 1.0]])
    for name in ("gaussian", "t"):
        fam = COPULA_FAMILIES[name]
        assert fam.kendall_tau({"corr": corr, "nu": 5.0}, 2)[0, 1] == pytest.approx(2 / math.pi * math.asin(0.6))
        chol, nu, theta = fam.kernel_params({"corr": corr, "nu": 5.0}, 2)
        np.testing.assert_allclose(chol @ chol.T, corr)
    assert COPULA_FAMILIES["t"].t_scale and not COPULA_FAMILIES["gaussian"].t_scale
    assert {n for n, f in COPULA_FAMILIES.items() if f.conditional} == {"independent", "gaussian", "t"}
