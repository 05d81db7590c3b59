"""The HTML page of a synthetic-data validation (``stress-sim validate``, ``ValidationReport.to_html``).

The statistics and the verdict are :mod:`calibration.validate`'s; this module only draws them: matplotlib
figures embedded as base64 PNG and the jinja2 template ``templates/validation.html`` (autoescaped).
"""
from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np

__all__ = ["render_validation_html"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(rep) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for the report's plots."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    assets = list(rep.assets)
    n = len(assets)
    det = rep.details

    # QQ: real quantiles against the pooled synthetic quantiles, with the ensemble's 95% band
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.0), squeeze=False)
    for ax, a in zip(axes[0], assets):
        qq = det["assets"][a]["qq"]
        s = np.asarray(qq["synthetic"], float)
        ax.fill_between(s, np.asarray(qq["low"], float), np.asarray(qq["high"], float), color="#9ecae1", alpha=0.6,
                        label="synthetic 95% band")
        ax.plot(s, np.asarray(qq["real"], float), ".", color="#d62728", ms=4, label="real")
        lim = [float(np.nanmin(s)), float(np.nanmax(s))]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_title(str(a))
        ax.set_xlabel("synthetic quantile (%)")
        ax.set_ylabel("real quantile (%)")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("QQ plot: real vs pooled synthetic daily returns")
    out.append(("QQ plots of daily returns (real vs synthetic), with the band of the per-history quantiles",
                _png(fig)))

    # ACF of r, |r|, r^2 and leverage
    keys = [("acf_r", "ACF of r"), ("acf_abs", "ACF of |r|"), ("acf_sq", "ACF of r²"),
            ("leverage", "corr(r_t, r²_t+k)")]
    fig, axes = plt.subplots(n, len(keys), figsize=(3.6 * len(keys), 2.8 * n), squeeze=False)
    for i, a in enumerate(assets):
        for k, (key, lab) in enumerate(keys):
            ax = axes[i][k]
            c = det["assets"][a][key]
            lags = np.arange(1, len(c["real"]) + 1)
            ax.fill_between(lags, np.asarray(c["low"], float), np.asarray(c["high"], float), color="#9ecae1",
                            alpha=0.6, label="synthetic 95%")
            ax.plot(lags, np.asarray(c["median"], float), color="#1f77b4", lw=1, label="synthetic median")
            ax.plot(lags, np.asarray(c["real"], float), color="#d62728", lw=1, label="real")
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(f"{a}: {lab}", fontsize=9)
            ax.set_xlabel("lag (days)", fontsize=8)
            if i == 0 and k == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    out.append(("Autocorrelation of returns, absolute and squared returns, and the leverage correlation",
                _png(fig)))

    # aggregational Gaussianity
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0), squeeze=False)
    for ax, a in zip(axes[0], assets):
        c = det["assets"][a]["kurtosis_by_horizon"]
        h = np.asarray(c["horizons"], float)
        ax.fill_between(h, np.asarray(c["low"], float), np.asarray(c["high"], float), color="#9ecae1", alpha=0.6)
        ax.plot(h, np.asarray(c["median"], float), "o-", color="#1f77b4", label="synthetic median")
        ax.plot(h, np.asarray(c["real"], float), "s-", color="#d62728", label="real")
        ax.set_xscale("log")
        ax.set_xticks(h)
        ax.set_xticklabels([str(int(v)) for v in h])
        ax.set_title(f"{a}: excess kurtosis by horizon", fontsize=9)
        ax.set_xlabel("horizon (days)", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out.append(("Aggregational Gaussianity: excess kurtosis of non-overlapping h-day returns", _png(fig)))

    if n > 1 and "tau_matrix" in det:
        mats = [("Kendall's tau: real", det["tau_matrix"]["real"]),
                ("Kendall's tau: synthetic mean", det["tau_matrix"]["synthetic"]),
                ("lower tail dep.: real", det["tail_dep_matrix"]["lower"]["real"]),
                ("lower tail dep.: synthetic", det["tail_dep_matrix"]["lower"]["synthetic"])]
        fig, axes = plt.subplots(1, len(mats), figsize=(3.6 * len(mats), 3.4), squeeze=False)
        for ax, (lab, m) in zip(axes[0], mats):
            m = np.asarray(m, float)
            im = ax.imshow(m, vmin=-1 if "tau" in lab else 0, vmax=1, cmap="RdBu_r")
            ax.set_xticks(range(n))
            ax.set_yticks(range(n))
            ax.set_xticklabels([str(a) for a in assets], rotation=45, fontsize=7)
            ax.set_yticklabels([str(a) for a in assets], fontsize=7)
            for (i, j), v in np.ndenumerate(m):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
            ax.set_title(lab, fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
        out.append(("Kendall's tau and lower tail-dependence matrices, real vs synthetic", _png(fig)))
    return out


def _collapse_figure(collapse) -> str | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs = collapse.runs
    if not runs:
        return None
    keys = [("tail_index", "Hill tail index (losses)"), ("kurtosis", "kurtosis"),
            ("variance", "variance (%²)"), ("tail_dep_lower", "lower tail dependence"),
            ("nu", "innovation nu (mean over assets)")]
    keys = [k for k in keys if any(k[0] in g["model_stats"] for r in runs for g in r.generations)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.8 * len(keys), 3.2), squeeze=False)
    for ax, (key, lab) in zip(axes[0], keys):
        for r in runs:
            gens = [g["generation"] for g in r.generations]
            vals = [g["model_stats"].get(key, float("nan")) for g in r.generations]
            vals = [float(np.mean(v)) if isinstance(v, (list, tuple)) else (np.nan if v is None else float(v))
                    for v in vals]
            ax.plot(gens, vals, "o-", label=f"real share {r.real_fraction:.0%}")
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("generation", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _fmt(v: float) -> str:
    if v is None or not math.isfinite(v):
        return "-inf" if v == -math.inf else ("inf" if v == math.inf else "n/a")
    return f"{v:.4g}"


def render_validation_html(rep, *, title: str | None = None, collapse=None, extra: dict | None = None,
                           method: str = "") -> str:
    """The self-contained HTML page of a :class:`calibration.validate.ValidationReport` ``rep``: verdict, check
    table, QQ / ACF / leverage / aggregation plots, Kendall's tau and tail-dependence heatmaps (PNG embedded as
    base64; jinja2 with autoescape), and with ``collapse`` (a ``calibration.collapse.CollapseReport``) the
    model-collapse section. ``extra``: rows of the run information table; ``method``: the method paragraph."""
    import jinja2

    extra = extra or {}
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    tmpl = env.from_string((TEMPLATES / "validation.html").read_text(encoding="utf-8"))
    checks = []
    for c in rep.checks:
        where = c.asset if c.asset is not None else ("~".join(c.pair) if c.pair else "all assets")
        checks.append({"group": c.group, "name": c.name, "where": where, "metric": c.metric, "real": _fmt(c.real),
                       "synthetic": _fmt(c.synthetic), "low": _fmt(c.band[0]), "high": _fmt(c.band[1]),
                       "score": _fmt(c.score), "passed": c.passed})
    info = [("assets", ", ".join(rep.assets)), ("real observations (days)", rep.n_obs),
            ("simulated histories", rep.n_paths),
            ("bands", f"{'simultaneous' if rep.simultaneous else 'per-check'} {rep.level:.0%}"
             + (f", critical score {rep.critical_value:.3g}" if rep.simultaneous else "")),
            ("simulated histories passing every check", f"{rep.ensemble_pass_rate:.1%}"),
            ("model sha256", rep.model_sha256), ("seed", json.dumps(rep.seed))]
    for k, v in rep.data.items():
        info.append((f"data: {k}", json.dumps(v) if isinstance(v, (dict, list)) else v))
    for k, v in extra.items():
        info.append((k, v))
    coll = None
    if collapse is not None:
        keys = list(collapse.reported_keys)
        rows = []
        for r in collapse.runs:
            rows.append({"fraction": f"{r.real_fraction:.0%}", "generations": len(r.generations) - 1,
                         "drifts": [f"{r.drift_median.get(k, float('nan')):+.1%} "
                                    f"({r.drift_median_abs.get(k, float('nan')):.1%})" for k in keys],
                         "stable": r.stable})
        coll = {"method": collapse.method, "columns": [f"{k}: median drift (typical |drift|)" for k in keys],
                "rows": rows,
                "conclusion": collapse.conclusion(), "figure": _collapse_figure(collapse)}
    return tmpl.render(
        title=title or f"Synthetic-data validation: {', '.join(rep.assets)}",
        passed=rep.passed, n_pass=len(rep.checks) - len(rep.failed), n_checks=len(rep.checks),
        failed=[c.label for c in rep.failed], info=info, method=method, checks=checks,
        figures=_figures(rep), collapse=coll,
    )
