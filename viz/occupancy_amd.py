"""AMD CDNA occupancy and wave64-vs-warp32 figures (engine/hw/occupancy_amd.py data -> plotly).

The colours of the limits match the CUDA ones in viz/hardware.py where the resource is the same kind:
wave slots = warp slots, workgroup slots = block slots, VGPRs = registers, LDS = shared memory; SGPRs,
which CUDA has no counterpart of, get their own colour.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .hardware import LIMIT_COLORS
from .theme import MEANING, OKABE_ITO, apply_theme
from .words import Translate, same

AMD_LIMITS = ("waves", "workgroups", "vgprs", "sgprs", "lds")
AMD_LIMIT_COLORS = {
    "waves": LIMIT_COLORS["warps"],
    "workgroups": LIMIT_COLORS["blocks"],
    "vgprs": LIMIT_COLORS["registers"],
    "sgprs": OKABE_ITO["purple"],
    "lds": LIMIT_COLORS["shared_memory"],
}
AXIS_TITLES = {
    "vgprs": "VGPRs per work-item",
    "workgroup": "workgroup size (work-items)",
    "lds": "LDS per workgroup (bytes)",
}


def amd_limit_labels(tr: Translate = same) -> dict[str, str]:
    """The resource each CDNA occupancy limit stands for, in the view's language."""
    return {
        "waves": tr("wave slots (8 per SIMD)"),
        "workgroups": tr("workgroup slots"),
        "vgprs": tr("VGPRs"),
        "sgprs": tr("SGPRs"),
        "lds": tr("LDS"),
    }


def amd_limiter_bars(result: dict, tr: Translate = same) -> go.Figure:
    """Waves per SIMD each resource would allow; the smallest one binds (outlined)."""
    labels = amd_limit_labels(tr)
    vals = [result[f"waves_by_{k}"] for k in AMD_LIMITS]
    fig = go.Figure(
        go.Bar(
            x=[labels[k] for k in AMD_LIMITS],
            y=vals,
            marker_color=[AMD_LIMIT_COLORS[k] for k in AMD_LIMITS],
            marker_line=dict(
                color=["black" if k in result["limiters"] else "white" for k in AMD_LIMITS], width=3
            ),
            text=vals,
            textposition="outside",
        )
    )
    fig.update_yaxes(title=tr("waves per SIMD allowed (count)"), range=[0, 10])
    fig.update_xaxes(title=tr("resource"))
    title = tr("Waves per SIMD allowed by each resource (outlined = binding)")
    return apply_theme(fig, title, height=360)


def amd_occupancy_curves_fig(curves: dict[str, list[dict]], yours: tuple, tr: Translate = same) -> go.Figure:
    """Waves per SIMD over VGPRs, workgroup size and LDS side by side; dashed = the kernel's own values.

    ``curves`` maps each axis of ``AXIS_TITLES`` to its rows; ``yours`` holds the kernel's value on each.
    """
    labels = amd_limit_labels(tr)
    axes = list(AXIS_TITLES)
    fig = make_subplots(rows=1, cols=len(axes), shared_yaxes=True, horizontal_spacing=0.04)
    shown = set()
    for col, (x, here) in enumerate(zip(axes, yours), start=1):
        rows = curves[x]
        fig.add_scatter(
            x=[r[x] for r in rows],
            y=[r["waves_per_simd"] for r in rows],
            mode="lines",
            line=dict(color=OKABE_ITO["grey"], shape="hv"),
            showlegend=False,
            row=1,
            col=col,
        )
        for lim in AMD_LIMITS:
            pts = [r for r in rows if r["limiter"] == lim]
            if pts:
                fig.add_scatter(
                    x=[r[x] for r in pts],
                    y=[r["waves_per_simd"] for r in pts],
                    mode="markers",
                    name=tr("limited by {resource}").format(resource=labels[lim]),
                    legendgroup=lim,
                    showlegend=lim not in shown,
                    marker=dict(color=AMD_LIMIT_COLORS[lim], size=5),
                    row=1,
                    col=col,
                )
                shown.add(lim)
        fig.add_vline(x=here, line=dict(color="black", dash="dash"), row=1, col=col)
        fig.update_xaxes(title_text=tr(AXIS_TITLES[x]), row=1, col=col)
    fig.update_yaxes(
        title_text=tr("occupancy (waves per SIMD, max 8)"), range=[0, 8.8], dtick=1, row=1, col=1
    )
    return apply_theme(fig, tr("Waves per SIMD as one resource grows (dashed = your kernel)"), height=400)


def wave_warp_bars(rows: list[dict], title: str, tr: Translate = same) -> go.Figure:
    """Lane utilisation of the same branchy kernel in warps of 32 and wavefronts of 64."""
    fig = go.Figure(
        go.Bar(
            x=[r["model"] for r in rows],
            y=[100 * r["utilization"] for r in rows],
            marker_color=[MEANING["compute"] if r["width"] == 32 else OKABE_ITO["vermillion"] for r in rows],
            text=[tr("{d} of {g} groups diverge").format(d=r["divergent"], g=r["groups"]) for r in rows],
            textposition="outside",
        )
    )
    fig.update_yaxes(title=tr("lane utilisation (%)"), range=[0, 115])
    fig.update_xaxes(title=tr("lock-step group"))
    return apply_theme(fig, title, height=340)
