"""The report's own words, coloured by how much each pushed the decision toward abnormal or toward normal.

Owns the ids ``words-graph`` (a zoomable heatmap of the words in reading order) and ``strongest-words`` (the
few words that moved the decision most). Words come from the explanation document (cxrmodel.explain.study):
``[{"text", "start", "end", "score", "share", "seen"}, ...]`` in reading order.

Layout of the heatmap: words are wrapped into lines of at most ``characters_per_line`` characters; one heatmap
trace per line whose cells are the words, each cell as wide as its word (x in character units, cell edges
given explicitly), so words never overlap. Seen words share one diverging colour axis (red = toward
abnormal, blue = toward normal, symmetric around 0); words the model never saw (stop words, words past the
model's token limit) are drawn light grey in italics by a second trace on the same line. Every cell is
labelled by the heatmap's ``texttemplate`` (no layout annotations).
"""

from __future__ import annotations

import hashlib
import html as html_text
import logging

import plotly.graph_objects as go
from dash import dcc, html

logger = logging.getLogger(__name__)

WORDS_GRAPH_ID = "words-graph"
STRONGEST_WORDS_ID = "strongest-words"

COLOUR_BAR_TITLE = "+ abnormal / − normal"
# ColorBrewer RdBu, blue (toward normal, negative) -> near white (0) -> red (toward abnormal, positive).
DIVERGING_SCALE = [[0.0, "#2166ac"], [1 / 6, "#67a9cf"], [2 / 6, "#d1e5f0"], [0.5, "#f7f7f7"],
                   [4 / 6, "#fddbc7"], [5 / 6, "#ef8a62"], [1.0, "#b2182b"]]
UNSEEN_COLOUR = "#e3e5e8"
UNSEEN_TEXT_COLOUR = "#6c757d"
NOT_SEEN_TEXT = "not seen by the model"
WORD_FONT_SIZE = 13
CELL_PADDING_CHARACTERS = 2
LINE_HEIGHT_PX = 30
MODEBAR_CLEARANCE_PX = 32
"""The colour bar starts this far below the plot's top, so the chart toolbar (top right, ~26 px) never covers its
top tick label."""
GRAPH_CONFIG = {
    "scrollZoom": True,
    "displaylogo": False,
    "doubleClick": "reset",
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
}


def word_positions(words: list[dict], characters_per_line: int = 70) -> list[dict]:
    """Where each word goes: ``[{"line", "start", "end"}, ...]`` in character units, one per word (pure).

    A word occupies its length plus :data:`CELL_PADDING_CHARACTERS`; a line wraps before the word that would
    take it past ``characters_per_line`` (a longer word gets a line of its own).
    """
    if characters_per_line <= 0:
        raise ValueError(f"characters_per_line must be positive, got {characters_per_line}")
    positions, line, cursor = [], 0, 0
    for word in words:
        width = max(len(word["text"]), 1) + CELL_PADDING_CHARACTERS
        if cursor > 0 and cursor + width > characters_per_line:
            line, cursor = line + 1, 0
        positions.append({"line": line, "start": cursor, "end": cursor + width})
        cursor += width
    return positions


def word_hover_text(word: dict) -> str:
    """Hover label of one word: the word, its signed score (3 significant digits) and share, or "not seen"."""
    text = html_text.escape(word["text"], quote=False)
    if not word.get("seen", True):
        return f"<b>{text}</b><br>{NOT_SEEN_TEXT}"
    score = float(word["score"])
    direction = "toward abnormal" if score > 0 else "toward normal" if score < 0 else "neutral"
    return f"<b>{text}</b><br>score {score:+.3g} ({direction})<br>share {float(word['share']) * 100:.1f}%"


def score_limit(words: list[dict]) -> float:
    """Half-width of the symmetric colour range: the largest |score| of a seen word (1 when all are 0)."""
    limit = max((abs(float(word["score"])) for word in words if word.get("seen", True)), default=0.0)
    return limit if limit > 0 else 1.0


def _line_traces(line: int, members: list[tuple[dict, dict]]) -> list[go.Heatmap]:
    """The seen-word trace (and, if needed, the unseen-word trace) of one line; cells = words.

    Each trace labels only its own words (an empty text is not drawn) and has no colour or hover elsewhere.
    """
    edges = [members[0][1]["start"]] + [position["end"] for _, position in members]
    # customdata: each cell's word index in the report (what a click strikes: components.what_if).
    common = {"x": edges, "y": [line - 0.5, line + 0.5], "xgap": 2, "ygap": 6, "texttemplate": "%{text}",
              "hoverinfo": "text", "hoverongaps": False, "showlegend": False,
              "customdata": [[position.get("index", -1) for _, position in members]]}
    words = [word for word, _ in members]
    seen = [bool(word.get("seen", True)) for word in words]
    labels = [html_text.escape(word["text"], quote=False) for word in words]
    hover = [word_hover_text(word) for word in words]

    def only(keep: bool, values: list) -> list:
        return [value if flag == keep else "" for value, flag in zip(values, seen, strict=True)]

    traces = [go.Heatmap(
        **common, name=f"line {line + 1}", coloraxis="coloraxis",
        z=[[float(word["score"]) if flag else None for word, flag in zip(words, seen, strict=True)]],
        text=[only(True, labels)], hovertext=[only(True, hover)], textfont={"size": WORD_FONT_SIZE},
    )]
    if not all(seen):
        traces.append(go.Heatmap(
            **common, name=f"line {line + 1} (not seen)", showscale=False, zmin=0, zmax=1,
            colorscale=[[0, UNSEEN_COLOUR], [1, UNSEEN_COLOUR]], z=[[None if flag else 0 for flag in seen]],
            text=[only(False, labels)], hovertext=[only(False, hover)],
            textfont={"size": WORD_FONT_SIZE, "color": UNSEEN_TEXT_COLOUR, "style": "italic"},
        ))
    return traces


def words_figure(words: list[dict], characters_per_line: int = 70) -> go.Figure:
    """A zoomable heatmap of the report's words in reading order, coloured by attribution.

    Args:
        words: ``[{"text", "score", "share", "seen", ...}]`` in reading order (the explanation document).
        characters_per_line: Wrap width in characters.

    Returns:
        One heatmap cell per word; the y axis is reversed (first line on top).
    """
    if not words:
        logger.debug("no report words: showing the placeholder")
        return empty_words_figure()
    positions = word_positions(words, characters_per_line)
    lines: dict[int, list[tuple[dict, dict]]] = {}
    for index, (word, position) in enumerate(zip(words, positions, strict=True)):
        lines.setdefault(position["line"], []).append((word, {**position, "index": index}))
    traces = [trace for line, members in lines.items() for trace in _line_traces(line, members)]
    line_count = len(lines)
    limit = score_limit(words)
    width = max(characters_per_line, max(position["end"] for position in positions))
    height = max(200, LINE_HEIGHT_PX * line_count + 40)
    margin = {"l": 4, "r": 4, "t": 8, "b": 8}
    axis = {"visible": False, "showgrid": False, "zeroline": False, "showticklabels": False}
    figure = go.Figure(data=traces)
    figure.update_layout(
        coloraxis={
            "colorscale": DIVERGING_SCALE, "cmin": -limit, "cmax": limit, "cmid": 0,
            "colorbar": {"title": {"text": COLOUR_BAR_TITLE, "side": "right"}, "thickness": 12,
                         # Bottom-anchored and shorter than the plot by the toolbar's height (pixels).
                         "lenmode": "pixels", "len": height - margin["t"] - margin["b"] - MODEBAR_CLEARANCE_PX,
                         "yanchor": "bottom", "y": 0,
                         "tickvals": [-limit, 0, limit],
                         "ticktext": [f"−{limit:.2g}", "0", f"+{limit:.2g}"], "outlinewidth": 0},
        },
        xaxis={**axis, "range": [-0.5, width + 0.5]},
        yaxis={**axis, "range": [line_count - 0.5, -0.5]},
        height=height,
        margin=margin,
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
        dragmode="pan", hovermode="closest", showlegend=False,
        hoverlabel={"bgcolor": "#ffffff", "font": {"color": "#212529"}},
        uirevision="words:" + hashlib.sha1("\x1f".join(word["text"] for word in words).encode()).hexdigest()[:12],
    )
    return figure


def empty_words_figure(message: str = "No report words to show.") -> go.Figure:
    """The placeholder before a study is explained."""
    figure = go.Figure()
    figure.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, height=200, paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff", margin={"l": 4, "r": 4, "t": 8, "b": 8}, uirevision="empty",
        annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                      "font": {"color": "#6c757d", "size": 13}}],
    )
    return figure


def strongest_words(words: list[dict], count: int = 5) -> list[dict]:
    """The ``count`` seen words with the largest |score| (ties: earlier word first).

    Returns:
        Copies of the word dicts with ``"index"`` (position in the report's word list) added.
    """
    ranked = sorted(
        ({**word, "index": index} for index, word in enumerate(words) if word.get("seen", True)),
        key=lambda word: (-abs(float(word["score"])), word["index"]),
    )
    return ranked[: max(count, 0)]


def strongest_words_list(words: list[dict], count: int = 5) -> html.Div:
    """A short ordered list of the strongest words with direction, signed score and share."""
    strongest = strongest_words(words, count)
    if not strongest:
        return html.Div(html.Small("No report words were seen by the model.", className="text-muted"))
    items = []
    for word in strongest:
        score = float(word["score"])
        toward_abnormal = score > 0
        items.append(html.Li([
            html.Span(word["text"], className="fw-semibold",
                      style={"borderBottom": f"3px solid {'#b2182b' if toward_abnormal else '#2166ac'}"}),
            html.Span(f" {'toward abnormal' if toward_abnormal else 'toward normal'} · score {score:+.3g}"
                      f" · share {float(word['share']) * 100:.1f}%", className="text-muted"),
        ]))
    return html.Div([html.H6("Words that moved the decision most", className="mb-1"),
                     html.Ol(items, className="small mb-0 ps-3")])


def report_outputs(words: list[dict], characters_per_line: int = 70) -> tuple[go.Figure, html.Div]:
    """(``words-graph.figure``, ``strongest-words.children``) for one explanation (pure)."""
    return words_figure(words, characters_per_line), strongest_words_list(words)


def layout(suffix: str = "") -> html.Div:
    """The words heatmap and the strongest-words list."""
    return html.Div(
        [
            html.H6("Report words", className="mb-1"),
            dcc.Graph(id=WORDS_GRAPH_ID + suffix, figure=empty_words_figure(), config=GRAPH_CONFIG),
            html.Div(id=STRONGEST_WORDS_ID + suffix, className="mt-2"),
        ],
        className="report-view",
    )
