"""Plotly figures for the reports: a route's timeline (speed, meta-actions as coloured bands with the reasoning on
hover, infraction markers) and training curves. Every point carries its simulated time (or step) in `customdata`,
which the page's script uses to seek the review video when the point is clicked."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from planner.actions import PATH_ACTIONS, SPEED_ACTIONS
from sim.core import infraction_label

TEMPLATE = "plotly_white"
SPEED_COLOURS = {"KEEP": "#7f8c9a", "ACCELERATE": "#2ca02c", "DECELERATE": "#ff9f1c", "STOP": "#d62728"}
PATH_COLOURS = {
    "STRAIGHT": "#c7ced6",
    "LEFT_TURN": "#1f77b4",
    "RIGHT_TURN": "#9467bd",
    "LEFT_CHANGE": "#17becf",
    "RIGHT_CHANGE": "#e377c2",
}
OTHER_COLOUR = "#444444"  # an action word outside the vocabulary (a newer vocabulary, or a raw answer)
INFRACTION_COLOUR = "#c0392b"
FALLBACK_COLOUR = "#e67e22"
CURSOR_COLOUR = "#111111"
HOVER_WIDTH = 80  # characters per hover line
RAW_CHARS = 400  # at most this much raw model text in a hover
STRIPS = ("path action", "speed action")  # the bands, bottom to top


def figure_json(fig: go.Figure) -> str:
    """The figure as JSON that is safe inside a <script> element (plotly escapes <, > and &)."""
    return pio.to_json(fig, validate=False, remove_uids=False)


def hover_text(*parts: str | None) -> str:
    """Plain text lines escaped and wrapped for a plotly hover (which reads <br> and entities, nothing else)."""
    lines: list[str] = []
    for part in parts:
        if part:
            lines.extend(textwrap.wrap(str(part), HOVER_WIDTH) or [""])
    return "<br>".join(html.escape(line) for line in lines)


def split_action(action: Any) -> tuple[str, str]:
    """("SPEED", "PATH") from "SPEED, PATH"; unknown or missing parts come back as they are, or "?"."""
    words = [w.strip() for w in str(action or "").split(",")]
    speed = words[0] if words and words[0] else "?"
    path = words[1] if len(words) > 1 and words[1] else "?"
    return speed, path


def speed_series(results: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """The ego speed over time: results' `speed_trace`, else the speeds the planner saw at its decisions."""
    trace = results.get("speed_trace")
    if isinstance(trace, Mapping) and trace.get("time") and trace.get("speed_mps"):
        return list(trace["time"]), list(trace["speed_mps"])
    times, speeds = [], []
    for entry in _decisions(results):
        speed = (entry.get("facts") or {}).get("speed") if isinstance(entry.get("facts"), Mapping) else None
        if isinstance(speed, int | float):
            times.append(float(entry["time"]))
            speeds.append(float(speed))
    return times, speeds


def _decisions(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = results.get("meta_actions") or []
    return [e for e in entries if isinstance(e, Mapping) and isinstance(e.get("time"), int | float)]


def _decision_hover(entry: Mapping[str, Any]) -> str:
    latency = entry.get("latency_ms")
    head = f"{float(entry['time']):.1f} s  {entry.get('action', '?')}"
    notes = []
    if isinstance(latency, int | float):
        notes.append(f"latency {latency:.1f} ms")
    if entry.get("fallback"):
        notes.append("FALLBACK (unusable answer, safe action taken)")
    raw = entry.get("raw")
    raw_text = f"raw: {str(raw)[:RAW_CHARS]}" if raw and raw != entry.get("reasoning") else None
    return f"<b>{html.escape(head)}</b><br>" + hover_text(entry.get("reasoning"), raw_text, "; ".join(notes))


def route_timeline(results: Mapping[str, Any], height: int = 300, x_max: float | None = None) -> go.Figure:
    """Speed on top; below it the speed and path actions as coloured bands (one bar per decision, reasoning on
    hover), fallbacks and infractions as markers. shapes[0] is the playback cursor the page moves. `x_max` widens
    the time axis (two runs side by side share one)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.58, 0.42], vertical_spacing=0.05)
    times, speeds = speed_series(results)
    if times:
        fig.add_trace(
            go.Scatter(
                x=times,
                y=speeds,
                customdata=times,
                mode="lines",
                name="speed",
                line={"color": "#34495e", "width": 2},
                hovertemplate="%{x:.1f} s: %{y:.1f} m/s<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    decisions = _decisions(results)
    end = timeline_end(results)
    strips = list(STRIPS)
    _add_bands(fig, decisions, end, "speed action", 0, SPEED_ACTIONS, SPEED_COLOURS)
    _add_bands(fig, decisions, end, "path action", 1, PATH_ACTIONS, PATH_COLOURS)
    fallbacks = [e for e in decisions if e.get("fallback")]
    if fallbacks:
        strips.append("fallbacks")
        fig.add_trace(
            _markers(
                [float(e["time"]) for e in fallbacks],
                "fallbacks",
                [_decision_hover(e) for e in fallbacks],
                "fallback",
                "triangle-down",
                FALLBACK_COLOUR,
            ),
            row=2,
            col=1,
        )
    infractions = [i for i in results.get("infractions") or [] if isinstance(i, Mapping)]
    infractions = [i for i in infractions if isinstance(i.get("time"), int | float)]
    if infractions:
        strips.append("infractions")
        fig.add_trace(
            _markers(
                [float(i["time"]) for i in infractions],
                "infractions",
                [_infraction_hover(i) for i in infractions],
                "infraction",
                "x",
                INFRACTION_COLOUR,
            ),
            row=2,
            col=1,
        )
    shapes = [_vline(0.0, CURSOR_COLOUR, "solid")] + [
        _vline(float(i["time"]), INFRACTION_COLOUR, "dot") for i in infractions
    ]
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 90, "r": 10, "t": 10, "b": 30},
        barmode="overlay",
        hovermode="closest",
        hoverlabel={"align": "left"},
        legend={"orientation": "h", "y": -0.18, "font": {"size": 10}},
        shapes=shapes,
        uirevision="timeline",
    )
    fig.update_xaxes(range=[0, max(end, x_max or 0.0, 1e-3)], row=1, col=1)
    fig.update_xaxes(title_text="simulated time (s)", title_standoff=4, row=2, col=1)
    fig.update_yaxes(title_text="speed (m/s)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=strips, fixedrange=True, row=2, col=1)
    return fig


def timeline_end(results: Mapping[str, Any]) -> float:
    """Simulated seconds the timeline spans: the route's duration, else its last decision's period."""
    decisions = _decisions(results)
    duration = results.get("duration_s")
    last = float(decisions[-1]["time"]) + float(results.get("plan_period") or 0.5) if decisions else 0.0
    return float(duration) if isinstance(duration, int | float) and duration > 0 else last


def _add_bands(
    fig: go.Figure,
    decisions: Sequence[Mapping[str, Any]],
    end: float,
    strip: str,
    part: int,
    vocabulary: Sequence[str],
    colours: Mapping[str, str],
) -> None:
    """One horizontal bar per decision, from its time to the next decision's, in one trace per action word (so
    the legend names the colours)."""
    bars: dict[str, dict[str, list[Any]]] = {}
    for i, entry in enumerate(decisions):
        start = float(entry["time"])
        stop = float(decisions[i + 1]["time"]) if i + 1 < len(decisions) else max(end, start)
        word = split_action(entry.get("action"))[part]
        bar = bars.setdefault(word, {"base": [], "x": [], "text": []})
        bar["base"].append(start)
        bar["x"].append(max(stop - start, 1e-3))
        bar["text"].append(_decision_hover(entry))
    order = [w for w in vocabulary if w in bars] + sorted(w for w in bars if w not in vocabulary)
    for word in order:
        bar = bars[word]
        fig.add_trace(
            go.Bar(
                y=[strip] * len(bar["x"]),
                x=bar["x"],
                base=bar["base"],
                customdata=bar["base"],
                orientation="h",
                name=word,
                legendgroup=strip,
                marker={"color": colours.get(word, OTHER_COLOUR), "line": {"width": 0}},
                width=0.8,
                hovertext=bar["text"],
                hovertemplate="%{hovertext}<extra></extra>",
            ),
            row=2,
            col=1,
        )


def _markers(times: list[float], strip: str, texts: list[str], name: str, symbol: str, colour: str) -> go.Scatter:
    return go.Scatter(
        x=times,
        y=[strip] * len(times),
        customdata=times,
        mode="markers",
        name=name,
        uid=strip,  # the plot draws it as `.trace<uid>`: a stable handle for the page's tests
        marker={"symbol": symbol, "size": 13, "color": colour, "line": {"width": 2, "color": colour}},
        hovertext=texts,
        hovertemplate="%{hovertext}<extra></extra>",
    )


def _infraction_hover(infraction: Mapping[str, Any]) -> str:
    head = f"{float(infraction['time']):.1f} s  {infraction_label(str(infraction.get('type', 'infraction')))}"
    other = infraction.get("other")
    details = infraction.get("details")
    detail_text = ", ".join(f"{k} {v}" for k, v in details.items()) if isinstance(details, Mapping) else None
    parts = [f"with {other}" if other else None, detail_text, "click: seek the video here"]
    return f"<b>{html.escape(head)}</b><br>" + hover_text(*parts)


def _vline(x: float, colour: str, dash: str) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": colour, "width": 1.5, "dash": dash},
        "layer": "above",
    }


def curves_figure(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    x_title: str = "step",
    hidden: Sequence[str] = (),
    height: int = 320,
) -> go.Figure:
    """One line per named series of (x, y) points; names in `hidden` start switched off (click the legend)."""
    fig = go.Figure()
    for name, points in series.items():
        xs = [p[0] for p in points]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[p[1] for p in points],
                customdata=xs,
                mode="lines+markers" if len(points) < 40 else "lines",
                name=name,
                visible="legendonly" if name in hidden else True,
                hovertemplate=f"{html.escape(name)}<br>{x_title} %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": html.escape(title), "font": {"size": 14}},
        height=height,
        margin={"l": 60, "r": 10, "t": 40, "b": 40},
        hovermode="closest",
        legend={"font": {"size": 10}},
    )
    fig.update_xaxes(title_text=x_title)
    return fig
