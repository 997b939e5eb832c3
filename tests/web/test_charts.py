"""The server-drawn SVG charts: well-formed, every value drawn and labelled, text escaped,
geometry that says what the numbers say (longer bar for more, left of zero for negative,
stacks end to end, higher points for larger values)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from openmvne.web import charts
from openmvne.web.charts import Series

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314  # our own output, parsed to check it


def rects(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_bar_chart_draws_one_labelled_bar_per_value() -> None:
    root = parse(charts.bar_chart(["广东省", "浙江省", "上海市"], [4, 10, 0], title="开户"))
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "开户"
    assert root.get("aria-labelledby") == title.get("id")
    bars = rects(root)
    assert [(b.get("data-label"), b.get("data-value")) for b in bars] == [
        ("广东省", "4"),
        ("浙江省", "10"),
        ("上海市", "0"),
    ]
    widths = [float(b.get("width", "0")) for b in bars]
    assert widths[1] > widths[0] > widths[2]
    assert widths[1] / widths[0] == pytest.approx(10 / 4, rel=0.01)
    shown = texts(root)
    assert {"广东省", "浙江省", "上海市", "4", "10", "0"} <= set(shown)


def test_bar_values_are_formatted_for_people_and_exact_as_data() -> None:
    root = parse(charts.bar_chart(["a"], [1234.5], title="t", fmt=lambda v: f"¥{v:,.2f}"))
    (bar,) = rects(root)
    assert bar.get("data-value") == "1234.5"
    assert "¥1,234.50" in texts(root)


def test_negative_values_extend_left_of_zero() -> None:
    root = parse(charts.bar_chart(["loss", "gain"], [-50, 100], title="margin"))
    loss, gain = rects(root)
    axis = next(line for line in root.iter(f"{SVG}line") if line.get("class") == "axis")
    zero = float(axis.get("x1", "0"))
    assert float(loss.get("x", "0")) + float(loss.get("width", "0")) == pytest.approx(zero, abs=0.2)
    assert float(gain.get("x", "0")) == pytest.approx(zero, abs=0.2)
    assert float(gain.get("width", "0")) == pytest.approx(
        2 * float(loss.get("width", "0")), rel=0.01
    )


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>&'
    markup = str(charts.bar_chart([evil], [1], title=evil))
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    root = parse(markup)  # still well-formed
    assert rects(root)[0].get("data-label") == evil
    line = str(charts.line_chart([evil], [Series(evil, [1])], title=evil))
    assert "<script>" not in line
    parse(line)


def test_no_data_says_so() -> None:
    root = parse(charts.bar_chart([], [], title="空", empty="暂无数据"))
    assert rects(root) == []
    assert "暂无数据" in texts(root)
    assert "chart-empty" in (root.get("class") or "")


def test_series_must_fit_the_labels() -> None:
    with pytest.raises(ValueError, match="has 1 values for 2"):
        charts.grouped_bars(["a", "b"], [Series("s", [1])], title="t")
    with pytest.raises(ValueError, match="has 3 values for 2"):
        charts.line_chart(["a", "b"], [Series("s", [1, 2, 3])], title="t")


def test_grouped_bars_side_by_side_with_a_legend() -> None:
    series = [Series("开户", [3, 1]), Series("充值", [5, 2])]
    root = parse(charts.grouped_bars(["广东", "浙江"], series, title="各省"))
    bars = rects(root)
    assert len(bars) == 4
    assert [(b.get("data-label"), b.get("data-series"), b.get("data-value")) for b in bars] == [
        ("广东", "开户", "3"),
        ("广东", "充值", "5"),
        ("浙江", "开户", "1"),
        ("浙江", "充值", "2"),
    ]
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert legend == ["开户", "充值"]
    ys = [float(b.get("y", "0")) for b in bars]
    assert ys == sorted(ys)  # each bar on its own line
    assert len(set(ys)) == 4


def test_stacked_bars_go_end_to_end_and_write_the_total() -> None:
    series = [Series("a", [2, 1]), Series("b", [3, 1])]
    root = parse(charts.grouped_bars(["x", "y"], series, title="t", stacked=True))
    first, second, third, fourth = rects(root)
    assert first.get("y") == second.get("y")
    assert float(second.get("x", "0")) == pytest.approx(
        float(first.get("x", "0")) + float(first.get("width", "0")), abs=0.2
    )
    total_width = float(first.get("width", "0")) + float(second.get("width", "0"))
    assert total_width == pytest.approx(
        2.5 * (float(third.get("width", "0")) + float(fourth.get("width", "0"))), rel=0.01
    )
    values = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "value"]
    assert values == ["5", "2"]


def test_line_chart_points_rise_with_their_values() -> None:
    months = ["2026-09", "2026-10", "2026-11"]
    root = parse(
        charts.line_chart(
            months, [Series("开户", [1, 4, 2]), Series("充值", [0, 0, 3])], title="每月"
        )
    )
    lines = [p for p in root.iter(f"{SVG}polyline") if p.get("class") == "line"]
    assert [p.get("data-series") for p in lines] == ["开户", "充值"]
    points = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "point"]
    assert len(points) == 6
    first = points[:3]
    assert [c.get("data-label") for c in first] == months
    assert [c.get("data-value") for c in first] == ["1", "4", "2"]
    cy = [float(c.get("cy", "0")) for c in first]
    assert cy[1] < cy[2] < cy[0]  # SVG y grows downwards: the largest value is highest
    cx = [float(c.get("cx", "0")) for c in first]
    assert cx == sorted(cx)
    assert set(months) <= set(texts(root))


def test_a_single_point_line_is_drawn() -> None:
    root = parse(charts.line_chart(["2026-11"], [Series("s", [7])], title="t"))
    (point,) = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "point"]
    assert point.get("data-value") == "7"


def test_long_labels_are_cut_to_fit_but_kept_whole_as_data() -> None:
    long = "广东鸿运通信服务有限公司深圳分公司"
    root = parse(charts.bar_chart([long, "171"], [1, 2], title="t"))
    shown = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert shown[0] is not None
    assert shown[0].endswith("…")
    assert long.startswith(shown[0][:-1])
    assert shown[1] == "171"
    assert rects(root)[0].get("data-label") == long
