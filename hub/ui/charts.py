"""Charts as SVG drawn on the server (pygal): no JavaScript, served as images (so the page's
strict Content-Security-Policy holds), each with the same figures as a table for screen
readers and for copying."""

from __future__ import annotations

import re

from hub.records import DayFigures
from hub.ui.words import Words

NAMES = ("volume", "overdue")
_SCRIPT = re.compile(rb"<script\b.*?</script>", re.S)


def render(name: str, figures: list[DayFigures], words: Words) -> bytes | None:
    """The SVG of chart ``name`` (volume: documents received per day; overdue: documents
    overdue at the end of each day), or None for an unknown chart."""
    if name not in NAMES:
        return None
    import pygal  # loaded by the first chart, not by every page
    from pygal.style import Style

    _ = words._
    style = Style(
        background="white",
        plot_background="white",
        foreground="#1f2328",
        foreground_strong="#1f2328",
        foreground_subtle="#57606a",
        colors=("#0b5cad",) if name == "volume" else ("#b3261e",),
        font_family="system-ui, sans-serif",
    )
    chart = pygal.Bar(
        style=style,
        width=720,
        height=260,
        show_legend=False,
        x_label_rotation=0,
        show_minor_x_labels=False,
        js=[],  # no script: the page allows none from elsewhere, and needs none
        disable_xml_declaration=False,
        margin=12,
        truncate_label=-1,  # dates stay whole
    )
    chart.title = (
        _("Documents received per day") if name == "volume" else _("Overdue documents per day")
    )
    chart.x_labels = [words.f.date(d.day)[:5] for d in figures]
    chart.x_labels_major = [words.f.date(d.day)[:5] for d in figures[:: max(1, len(figures) // 6)]]
    values = [d.received if name == "volume" else d.overdue for d in figures]
    top = max(values, default=0)
    step = max(1, -(-top // 5))  # whole documents on the axis: at most six lines
    chart.y_labels = list(range(0, top + step, step))
    chart.add(chart.title, values)
    svg: bytes = chart.render()
    # pygal still writes its configuration as an inline script: an image needs none
    return _SCRIPT.sub(b"", svg)


def text_alternative(figures: list[DayFigures], words: Words) -> list[tuple[str, int, int]]:
    """The charts' figures as rows: (day, received, overdue)."""
    return [(words.f.date(d.day), d.received, d.overdue) for d in figures]
