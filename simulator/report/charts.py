"""Matplotlib charts for the HTML report, returned as ``data:image/png;base64,...`` URIs.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly (no pyplot
state, no display needed, safe to call from threads). Text that comes from files (asset and scenario
names) is passed through :func:`_txt` so a ``$`` is never read as mathtext.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np

__all__ = ["png_uri", "ratio_chart", "fan_chart", "loss_chart", "correlation_chart", "backtest_chart"]

_BLUE = "#1f5fa8"
_RED = "#c0392b"
_ORANGE = "#e67e22"
_GREY = "#7f8c8d"
_DPI = 96


def _txt(s: Any) -> str:
    """Plain text for matplotlib: escape ``$`` (mathtext) and cap the length."""
    s = str(s).replace("$", r"\$")
    return s if len(s) <= 80 else s[:77] + "..."


def _wrap(s: Any, width: int = 90, max_lines: int = 3) -> str:
    """Text for a title or axis label: ``$`` escaped, wrapped at ``width`` characters (at most ``max_lines``)."""
    import textwrap

    lines = textwrap.wrap(str(s), width=width) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(width - 3, 1)] + "..."
    return "\n".join(lines).replace("$", r"\$")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    fig.patch.set_facecolor("white")
    return fig


def png_uri(fig, *, tight: bool = False) -> str:
    """Render ``fig`` to PNG and return it as a base64 data URI.

    ``tight`` crops to the drawn content (one extra layout pass); the simple charts set their margins
    with ``subplots_adjust`` instead, which renders about 40 % faster.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight" if tight else None, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _money_axis(ax, axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        a = abs(v)
        if a >= 1e9:
            return f"{v / 1e9:.1f}bn"
        if a >= 1e6:
            return f"{v / 1e6:.2f}m"
        if a >= 1e3:
            return f"{v / 1e3:.0f}k"
        return f"{v:.0f}"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(fmt))


def ratio_chart(rows: Sequence[dict], *, es_label: str, baseline: str | None) -> str:
    """Horizontal bars: each scenario's ES divided by the baseline's ES over the same horizon (the scenario's
    own), with a 95 % interval; 1 (the baseline) is marked. Every bar compares like with like, whatever the
    scenarios' horizons.

    ``rows``: dicts with ``name``, ``horizon_days``, ``ratio``, ``se`` (None: no interval drawn, e.g. a
    discrete loss distribution, marked ``*``) and ``baseline`` (bool: another baseline, drawn grey).
    """
    rows = [r for r in rows if r.get("ratio") is not None]
    fig = _figure(8.0, 1.2 + 0.32 * max(len(rows), 1))
    ax = fig.add_subplot(1, 1, 1)
    if rows:
        y = np.arange(len(rows))[::-1]
        ratio = np.array([r["ratio"] for r in rows], dtype=float)
        se = np.array([r["se"] if r.get("se") is not None else np.nan for r in rows], dtype=float)
        colors = [_GREY if r.get("baseline") else (_RED if r["ratio"] > 1 else _BLUE) for r in rows]
        ax.barh(y, ratio, color=colors, height=0.65)
        ok = np.isfinite(se)
        if ok.any():
            ax.errorbar(ratio[ok], y[ok], xerr=1.96 * se[ok], fmt="none", ecolor="black", elinewidth=1, capsize=3)
        ax.set_yticks(y)
        ax.set_yticklabels([_txt(f"{r['name']} ({r['horizon_days']} d){' *' if r.get('discrete') else ''}")
                            for r in rows], fontsize=9)
    ax.axvline(1.0, color="black", lw=1.0, ls="--")
    ax.set_xlabel(_wrap(f"{es_label} of the scenario / {es_label} of {baseline or 'the baseline'} over the same "
                        "horizon (the scenario's own, in trading days, in brackets); dashed line: 1 = baseline. "
                        "Whiskers: 95% interval; *: fewer than 1,000 distinct outcomes, no interval; red: above "
                        "the baseline", 100), fontsize=8)
    ax.set_title(_wrap(f"Stress-to-baseline {es_label} ratio, each scenario at its own horizon", 90), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return png_uri(fig, tight=True)


def fan_chart(fan, *, currency: str, initial_value: float, title: str) -> str:
    """Fan chart of the portfolio value: 1-99, 5-95 and 25-75 % bands, median and mean by day."""
    fig = _figure(7.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    day = fan["day"].to_numpy()
    bands = (("q01", "q99", 0.15, "1-99%"), ("q05", "q95", 0.25, "5-95%"), ("q25", "q75", 0.4, "25-75%"))
    for lo, hi, alpha, label in bands:
        if lo in fan and hi in fan:
            ax.fill_between(day, fan[lo].to_numpy(), fan[hi].to_numpy(), color=_BLUE, alpha=alpha, lw=0, label=label)
    ax.plot(day, fan["q50"].to_numpy(), color=_BLUE, lw=1.8, label="median")
    ax.plot(day, fan["mean"].to_numpy(), color=_ORANGE, lw=1.2, ls="--", label="mean")
    ax.axhline(initial_value, color=_GREY, lw=0.8, ls=":")
    if day.size <= 2:
        ax.plot(day, fan["q50"].to_numpy(), "o", color=_BLUE)
    ax.set_xlabel("trading day")
    ax.set_ylabel(_txt(f"portfolio value ({currency})"))
    _money_axis(ax)
    ax.set_title(_wrap(title, 85, 2), fontsize=9)
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.14, top=0.88)
    return png_uri(fig)


def loss_chart(pnl: np.ndarray, *, marks: Sequence[tuple[str, float, str]], currency: str, title: str) -> str:
    """Histogram of the loss ``-pnl`` with VaR and ES marked (``marks``: ``(label, value, "var" | "es")``,
    e.g. VaR and ES at 97.5 % and 99 %)."""
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    loss = -np.asarray(pnl, dtype=float)
    lo, hi = np.percentile(loss, [0.1, 99.9]) if loss.size > 10 else (loss.min(), loss.max())
    hi = max([hi, *(v for _, v, _ in marks)])
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    shown = loss[(loss >= lo) & (loss <= hi)]
    ax.hist(shown, bins=60, range=(lo, hi), color=_BLUE, alpha=0.75)
    var_colors, es_colors = iter((_ORANGE, "#8e5a00", "#d35400")), iter((_RED, "#7b241c", "#e74c3c"))
    for label, value, kind in marks:
        color = next(var_colors, _ORANGE) if kind == "var" else next(es_colors, _RED)
        ax.axvline(value, color=color, lw=1.8, ls="-" if kind == "var" else "--", label=_txt(f"{label} = {value:,.0f}"))
    ax.set_xlabel(_txt(f"loss ({currency}, losses positive; 0.1-99.9% range shown)"))
    ax.set_ylabel("paths")
    _money_axis(ax, "x")
    ax.set_title(_wrap(title, 85, 2), fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.15, top=0.88)
    return png_uri(fig)


def correlation_chart(base: np.ndarray, stressed: np.ndarray, names: Sequence[str], *, base_title: str,
                      stressed_title: str) -> str:
    """Two correlation heatmaps side by side (shared -1..1 colour scale, values annotated)."""
    n = len(names)
    size = min(3.0 + 0.45 * n, 9.0)
    fig = _figure(2 * size + 1.0, size)
    axes = fig.subplots(1, 2)
    labels = [_txt(a)[:14] for a in names]
    im = None
    for ax, m, t in ((axes[0], base, base_title), (axes[1], stressed, stressed_title)):
        m = np.asarray(m, dtype=float)
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticklabels(labels, fontsize=8)
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if abs(m[i, j]) > 0.6 else "black")
        ax.set_title(_txt(t), fontsize=9)
    fig.subplots_adjust(left=0.1, right=0.88, bottom=0.22, top=0.9, wspace=0.45)
    cax = fig.add_axes((0.905, 0.3, 0.015, 0.52))
    fig.colorbar(im, cax=cax)
    return png_uri(fig)


def backtest_chart(dates: Sequence[str], returns: np.ndarray, var: np.ndarray, exceptions: np.ndarray, *,
                   level: float, last_days: int, title: str) -> str:
    """Realised daily returns against the negative VaR forecast, exceptions marked, last window shaded."""
    import pandas as pd

    fig = _figure(8.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    x = pd.to_datetime(pd.Index(list(dates)), errors="coerce")
    if x.isna().any():  # undated series: plot against the day number
        x = np.arange(len(returns))
    r = np.asarray(returns, dtype=float)
    v = np.asarray(var, dtype=float)
    e = np.asarray(exceptions, dtype=bool)
    ax.plot(x, r, color=_GREY, lw=0.5, label="realised return (%)")
    ax.plot(x, -v, color=_RED, lw=0.9, label=f"-VaR {100 * level:g}% (%)")
    ax.scatter(np.asarray(x)[e], r[e], color="black", s=10, zorder=3, label=f"exceptions ({int(e.sum())})")
    if 0 < last_days <= len(r):
        ax.axvspan(np.asarray(x)[-last_days], np.asarray(x)[-1], color=_ORANGE, alpha=0.12,
                   label=f"last {last_days} days (traffic light)")
    ax.set_ylabel("daily log return (%)")
    ax.set_title(_txt(title), fontsize=10)
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.1, top=0.91)
    return png_uri(fig)


def rate_fan_chart(days: Sequence[int], quantiles: Sequence[Sequence[float]], probs: Sequence[float], *,
                   factor: str, title: str) -> str:
    """Fan of one rate factor's level (percent) across paths by day: the outer and inner quantile bands and
    the median (``quantiles[k]`` holds the quantiles ``probs`` on ``days[k]``)."""
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    q = np.asarray(quantiles, dtype=float)
    d = np.asarray(days, dtype=float)
    p = list(probs)
    mid = p.index(0.5) if 0.5 in p else len(p) // 2
    for i in range(mid):
        ax.fill_between(d, q[:, i], q[:, -1 - i], color=_BLUE, alpha=0.15 + 0.15 * i, lw=0,
                        label=_txt(f"{100 * p[i]:g}-{100 * p[-1 - i]:g}%"))
    ax.plot(d, q[:, mid], color=_BLUE, lw=1.8, label="median")
    ax.axhline(0.0, color=_GREY, lw=0.8, ls=":")
    ax.set_xlabel("trading day")
    ax.set_ylabel(_txt(f"{factor} (percent)"))
    ax.set_title(_wrap(title, 85, 2), fontsize=9)
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.14, top=0.88)
    return png_uri(fig)


def curve_chart(tenors: Sequence[float], as_of: Sequence[float], at_horizon: Sequence[Sequence[float]],
                probs: Sequence[float], *, title: str) -> str:
    """A yield curve at the as-of date and its quantiles across paths at the horizon (percent by tenor)."""
    fig = _figure(7.0, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    t = np.asarray(tenors, dtype=float)
    q = np.asarray(at_horizon, dtype=float)  # (tenors, quantiles)
    p = list(probs)
    mid = p.index(0.5) if 0.5 in p else len(p) // 2
    for i in range(mid):
        ax.fill_between(t, q[:, i], q[:, -1 - i], color=_BLUE, alpha=0.15 + 0.15 * i, lw=0,
                        label=_txt(f"horizon {100 * p[i]:g}-{100 * p[-1 - i]:g}%"))
    ax.plot(t, q[:, mid], "o-", color=_BLUE, lw=1.6, label="horizon median")
    ax.plot(t, as_of, "s--", color=_ORANGE, lw=1.4, label="as of")
    ax.axhline(0.0, color=_GREY, lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(t)
    ax.set_xticklabels([f"{x:g}y" for x in t])
    ax.set_xlabel("tenor (years, log scale)")
    ax.set_ylabel("par yield (percent)")
    ax.set_title(_wrap(title, 85, 2), fontsize=9)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.16, top=0.88)
    return png_uri(fig)
