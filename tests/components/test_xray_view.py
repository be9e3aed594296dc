"""The radiograph viewer's pure builders: one compressed layout image, circles as shapes, overlays, ids."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from components import xray_view
from cxrmodel.imaging import GridMapping

SOURCE = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake bytes").decode("ascii")
CIRCLES = [
    {"x": 50.0, "y": 60.0, "r": 10.0, "points": 12, "mass": 0.4213},
    {"x": 120.5, "y": 30.25, "r": 4.5, "points": 3, "mass": 0.1225},
    {"x": 10.0, "y": 150.0, "r": 2.0, "points": 2, "mass": 0.01},
]


def as_json(figure) -> dict:
    return json.loads(figure.to_json())


def decode_png(data_uri: str) -> np.ndarray:
    assert data_uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))))


def test_the_radiograph_is_one_compressed_layout_image_never_a_numeric_trace():
    figure = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES))
    images = figure["layout"]["images"]
    assert len(images) == 1
    image = images[0]
    assert image["source"] == SOURCE and image["name"] == xray_view.RADIOGRAPH_IMAGE_NAME
    assert (image["xref"], image["yref"], image["layer"]) == ("x", "y", "below")
    assert (image["sizex"], image["sizey"]) == (160, 200)
    # Pixel (row i, column j) is centred on (j, i): the image spans -0.5 .. size - 0.5.
    assert (image["x"], image["y"], image["xanchor"], image["yanchor"]) == (-0.5, -0.5, "left", "top")
    assert all(trace["type"] == "scatter" for trace in figure["data"])
    assert not any("z" in trace for trace in figure["data"])


def test_axes_are_fixed_to_the_image_with_square_pixels_and_no_grid():
    layout = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES))["layout"]
    assert layout["xaxis"]["range"] == [-0.5, 159.5]
    assert layout["yaxis"]["range"] == [199.5, -0.5]  # reversed: row 0 on top
    assert layout["yaxis"]["scaleanchor"] == "x" and layout["yaxis"]["scaleratio"] == 1
    for axis in (layout["xaxis"], layout["yaxis"]):
        assert axis["showgrid"] is False and axis["showticklabels"] is False and axis["visible"] is False
    assert layout["dragmode"] == "pan"


def test_uirevision_keeps_zoom_for_one_image_and_resets_for_another():
    first = xray_view.xray_figure(SOURCE, 160, 200, CIRCLES).layout.uirevision
    assert first and first == xray_view.xray_figure(SOURCE, 160, 200, []).layout.uirevision
    assert first != xray_view.xray_figure(SOURCE + "A", 160, 200, CIRCLES).layout.uirevision
    assert xray_view.xray_figure(SOURCE, 160, 200, CIRCLES, uirevision="CXR7").layout.uirevision == "CXR7"


def test_circles_become_rank_coloured_shapes_with_exact_extents():
    shapes = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES))["layout"]["shapes"]
    assert len(shapes) == len(CIRCLES)
    for rank, (shape, circle) in enumerate(zip(shapes, CIRCLES, strict=True), start=1):
        assert shape["type"] == "circle" and (shape["xref"], shape["yref"]) == ("x", "y")
        x, y, r = circle["x"], circle["y"], circle["r"]
        assert (shape["x0"], shape["x1"], shape["y0"], shape["y1"]) == pytest.approx((x - r, x + r, y - r, y + r))
        assert shape["line"]["color"] == xray_view.CIRCLE_PALETTE[rank - 1]
        assert shape["line"]["width"] == xray_view.CIRCLE_LINE_WIDTH
        assert shape["label"]["text"] == str(rank)


def test_palette_is_distinct_and_cycles_past_its_end():
    palette = xray_view.CIRCLE_PALETTE
    assert 5 <= len(palette) <= 8 and len(set(palette)) == len(palette)
    many = [{"x": i, "y": i, "r": 1.0, "points": 2, "mass": 0.01} for i in range(len(palette) + 2)]
    colours = [shape["line"]["color"] for shape in xray_view.circle_shapes(many)]
    assert colours[: len(palette)] == list(palette) and colours[len(palette)] == palette[0]


def test_a_circle_that_repeats_a_colour_has_another_outline_style():
    """Issue #17: circles 1 and 7 looked alike. Each pass through the palette gets the next dash."""
    palette = xray_view.CIRCLE_PALETTE
    many = [{"x": i, "y": i, "r": 1.0, "points": 2, "mass": 0.01} for i in range(4 * len(palette) + 1)]
    styles = [(shape["line"]["color"], shape["line"]["dash"]) for shape in xray_view.circle_shapes(many)]
    assert len(set(styles[: 4 * len(palette)])) == 4 * len(palette)  # no two of the first 24 circles look alike
    assert styles[0] == (palette[0], "solid") and styles[len(palette)] == (palette[0], "dash")
    assert [dash for _, dash in styles[:: len(palette)]] == ["solid", "dash", "dot", "dashdot", "solid"]


def test_the_hover_trace_describes_each_circle():
    figure = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES))
    markers = [trace for trace in figure["data"] if trace["name"] == xray_view.CIRCLE_TRACE_NAME]
    assert len(markers) == 1
    trace = markers[0]
    assert trace["x"] == [c["x"] for c in CIRCLES] and trace["y"] == [c["y"] for c in CIRCLES]
    assert trace["hovertext"][0] == ("<b>Circle 1</b><br>42.1% of positive attribution<br>12 signal pixels"
                                     "<br>radius 10.0 px")
    # 0.1225 * 100 == 12.25 exactly: rounded half up, as JavaScript's toFixed does.
    assert "12.3% of positive attribution" in trace["hovertext"][1] and "3 signal pixels" in trace["hovertext"][1]
    assert trace["hoverlabel"]["bordercolor"] == list(xray_view.CIRCLE_PALETTE[:3])


def test_circles_toggled_off_draw_no_shapes_and_no_markers():
    figure = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES, show_circles=False))
    assert figure["layout"].get("shapes", []) == []
    trace = next(t for t in figure["data"] if t["name"] == xray_view.CIRCLE_TRACE_NAME)
    assert trace["x"] == [] and trace["hovertext"] == []


def test_heatmap_overlay_is_a_second_layout_image_with_its_opacity():
    figure = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES, heatmap_source="data:image/png;base64,QQ==",
                                           heatmap_opacity=0.55))
    radiograph, overlay = figure["layout"]["images"]
    assert radiograph["name"] == xray_view.RADIOGRAPH_IMAGE_NAME
    assert overlay["name"] == xray_view.OVERLAY_IMAGE_NAME and overlay["opacity"] == 0.55
    assert (overlay["sizex"], overlay["sizey"], overlay["y"]) == (160, 200, -0.5)
    assert overlay["x"] == pytest.approx(-0.5, abs=1e-5)


def test_lesion_outlines_trace_the_inner_border_of_each_mask():
    first = np.zeros((30, 40), dtype=bool)
    first[5:15, 10:20] = True  # a 10 x 10 square
    second = np.zeros((30, 40), dtype=bool)
    second[20:30, 30:40] = True  # touching the film's corner: the film edge is outside, so it is outlined too
    rgba = decode_png(xray_view.lesion_outline_png([first, second]))
    assert rgba.shape == (30, 40, 4)
    opaque = rgba[..., 3] > 0
    assert (opaque & ~(first | second)).sum() == 0  # nothing outside the lesions
    assert opaque[5:7, 10:20].all() and opaque[13:15, 10:20].all() and opaque[5:15, 10:12].all()
    assert not opaque[7:13, 12:18].any()  # the inside is left clear to see the film
    assert opaque[28:30, 30:40].all() and opaque[20:30, 38:40].all()
    assert tuple(rgba[5, 10]) == xray_view.TRUTH_OUTLINE_RGBA


def test_lesion_outlines_need_masks_of_one_size():
    assert xray_view.lesion_outline_png([]) is None
    with pytest.raises(ValueError, match="one size"):
        xray_view.lesion_outline_png([np.ones((4, 4), bool), np.ones((4, 5), bool)])


def test_lesion_outlines_are_a_layout_image_that_starts_hidden_unless_asked():
    hidden = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES, truth_source="data:image/png;base64,Qg=="))
    radiograph, outlines = hidden["layout"]["images"]
    assert outlines["name"] == xray_view.TRUTH_IMAGE_NAME and outlines["visible"] is False
    assert (outlines["sizex"], outlines["sizey"], outlines["y"]) == (160, 200, -0.5)
    assert outlines["x"] == pytest.approx(-0.5, abs=1e-5)
    shown = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES, truth_source="data:image/png;base64,Qg==",
                                          show_truth=True))
    assert shown["layout"]["images"][1]["visible"] is True
    assert len(as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES))["layout"]["images"]) == 1


def test_every_layout_image_has_its_own_plotly_join_key():
    # plotly.js keys layout images by position and size: two at the same place would draw only the first.
    figure = as_json(xray_view.xray_figure(SOURCE, 160, 200, CIRCLES, heatmap_source="data:image/png;base64,QQ==",
                                           truth_source="data:image/png;base64,Qg=="))
    keys = {"_".join(str(image[key]) for key in ("xref", "x", "sizex", "yref", "y", "sizey"))
            for image in figure["layout"]["images"]}
    assert len(keys) == 3


def test_numeric_arrays_are_refused_as_the_image_source():
    with pytest.raises(TypeError):
        xray_view.xray_figure(np.zeros((4, 4)), 4, 4, [])


def test_overlay_png_crops_the_padding_and_is_transparent_where_attribution_is_zero():
    mapping = GridMapping.for_image(100, 50, 32)  # scale 0.32, 8 grid rows of padding above and below
    assert mapping.offset_y == 8.0
    attribution = np.zeros((32, 32))
    attribution[:8, :] = 5.0  # padding: must not appear
    attribution[8 + 4, 10] = 10.0
    attribution[8 + 6, 20] = -3.0  # negative: transparent
    rgba = decode_png(xray_view.attribution_overlay_png(attribution, mapping))
    assert rgba.shape == (16, 32, 4)
    alpha = rgba[..., 3]
    assert alpha[4, 10] == 255 and np.count_nonzero(alpha) == 1
    as_dict = {"scale": mapping.scale, "offset_x": mapping.offset_x, "offset_y": mapping.offset_y,
               "image_width": 100, "image_height": 50}
    assert np.array_equal(decode_png(xray_view.attribution_overlay_png(attribution, as_dict)), rgba)


def test_overlay_png_of_a_map_without_positive_attribution_is_fully_transparent():
    rgba = decode_png(xray_view.attribution_overlay_png(-np.ones((8, 8)), GridMapping.for_image(8, 8, 8)))
    assert rgba.shape == (8, 8, 4) and not rgba[..., 3].any()


def test_signal_points_use_the_circles_image_coordinates_and_carry_their_strength():
    mapping = GridMapping.for_image(90, 60, 30)
    attribution = np.zeros((30, 30))
    attribution[12, 7], attribution[15, 20], attribution[20, 3] = 2.0, 1.0, 0.2
    trace = xray_view.signal_points_trace(attribution, mapping, minimum_strength=0.3)
    assert trace.name == xray_view.POINTS_TRACE_NAME and list(trace.customdata) == [1.0, 0.5]
    expected_x, expected_y = mapping.to_image(7 + 0.5, 12 + 0.5)
    assert (trace.x[0], trace.y[0]) == pytest.approx((expected_x - 0.5, expected_y - 0.5), abs=0.01)
    figure = as_json(xray_view.xray_figure(SOURCE, 90, 60, [], points_trace=trace))
    points = next(t for t in figure["data"] if t["name"] == xray_view.POINTS_TRACE_NAME)
    assert points["hoverinfo"] == "skip" and points["visible"] is True
    hidden = as_json(xray_view.xray_figure(SOURCE, 90, 60, [], points_trace=trace, show_points=False))
    assert next(t for t in hidden["data"] if t["name"] == xray_view.POINTS_TRACE_NAME)["visible"] is False


def test_window_transfer_matches_css_invert_contrast_brightness_in_that_order():
    def css_chain(value, contrast, brightness, invert):
        value = 1 - value if invert else value
        return brightness * (contrast * (value - 0.5) + 0.5)

    for contrast, brightness, invert in ((1, 1, False), (1.8, 0.7, False), (0.6, 1.3, True), (2.5, 2.0, True)):
        transfer = xray_view.window_transfer(contrast, brightness, invert)
        for value in (0.0, 0.25, 0.8, 1.0):
            expected = css_chain(value, contrast, brightness, invert)
            assert transfer["slope"] * value + transfer["intercept"] == pytest.approx(expected)
    assert xray_view.window_transfer(None, None, None) == {"slope": 1.0, "intercept": 0.0}


def test_window_style_points_the_frame_at_its_own_svg_filter():
    assert xray_view.window_style() == {"--xray-filter": "none"}
    assert xray_view.window_style(1.2, 1.0, False) == {"--xray-filter": "url(#cxr-window-xray-frame)"}
    compare = xray_view.window_style(1, 1, True, "xray-frame-compare")
    assert compare == {"--xray-filter": "url(#cxr-window-xray-frame-compare)"}


def test_layout_has_the_documented_ids_and_a_scroll_zoom_graph():
    component = xray_view.layout()
    found = {item.id: item for item in component._traverse() if getattr(item, "id", None)}
    for key in ("xray-graph", "overlay-toggles", "heatmap-opacity", "window-contrast", "window-brightness",
                "invert-image", "xray-frame"):
        assert key in found
    graph = found["xray-graph"]
    assert graph.config["scrollZoom"] is True and graph.config["displaylogo"] is False
    assert "autoScale2d" in graph.config["modeBarButtonsToRemove"]  # reset view stays
    assert [option["value"] for option in found["overlay-toggles"].options] == ["circles", "heatmap", "points", "truth"]
    assert xray_view.XRAY_FRAME_CLASS in found["xray-frame"].className
    compare = {item.id for item in xray_view.layout("-compare")._traverse() if getattr(item, "id", None)}
    assert "xray-graph-compare" in compare and not compare & set(found)
