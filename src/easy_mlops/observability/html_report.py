"""The monitoring report as one self-contained HTML page (``observe --html``).

Everything is inline (CSS, SVG charts drawn here, a few lines of script that
sort the drift table), so the file opens from a disk, an e-mail or a CI
artifact store with no network. Charts are drawn from the same summaries
``status`` prints, plus the metrics history and the drift step's counts:

- a trend chart per metric: training day and each live evaluation, with the
  alert threshold drawn;
- a classifier's latest live evaluation: its confusion matrix and per-class scores;
- the distribution of predictions against the hold-out's;
- the drift table, sorted by score, with a small reference-vs-current
  histogram per feature;
- the active alerts.

Charts with axes size their margins from their tick labels, so no label is
cut off at the edge of its SVG, and name both axes.
"""

import math
from html import escape
from typing import Any

import numpy as np

from easy_mlops.counts import numeric_entries
from easy_mlops.observability.report import alert_text, side_by_side

REFERENCE_COLOUR = "#7b8fc7"
CURRENT_COLOUR = "#f08a4b"
THRESHOLD_COLOUR = "#d62728"
HISTOGRAM_BARS = 20  # equal-width bars a numeric profile's ~100 quantile bins are drawn as
CATEGORY_BARS = 12  # most frequent reference categories drawn; the rest join "other"
# SVG text is 11 px (STYLE); margins are sized with this generous average glyph width.
CHAR_PX = 6.6
AXIS_TITLE_PX = 16  # the rotated y-axis title's column, or the x-axis title's row

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
.about { color: #555; margin-top: 4px; }
.alerts li { color: #b00020; } .ok { color: #2e7d32; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { border: 1px solid #eee; padding: 8px; } .chart h3 { margin: 0 0 4px; font-size: 14px; }
table { border-collapse: collapse; }
td, th { padding: 4px 10px; text-align: left; border-bottom: 1px solid #eee; }
th { cursor: pointer; user-select: none; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.confusion td.number { min-width: 3em; } .notes { color: #555; }
tr.drifted td { background: #fdecea; } .legend span { display: inline-block; width: 12px; height: 12px;
  margin: 0 4px 0 12px; vertical-align: middle; }
svg text { font: 11px system-ui, sans-serif; fill: #444; } svg text.axis-title { fill: #222; }
"""

# Click a column heading to sort the drift table by it; the body is marked once the script ran.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (heading, column) {
  heading.addEventListener("click", function () {
    var body = heading.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var descending = heading.dataset.order !== "descending";
    heading.dataset.order = descending ? "descending" : "ascending";
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value || a.cells[column].textContent;
      var y = b.cells[column].dataset.value || b.cells[column].textContent;
      var order = isNaN(x) || isNaN(y) ? x.localeCompare(y) : x - y;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
document.body.dataset.ready = "yes";
"""


def render_html(
    about: dict[str, Any],
    summary: dict[str, Any],
    history: list[dict[str, Any]],
    thresholds: dict[str, float],
    reference: dict[str, Any] | None,
    window: dict[str, Any],
) -> str:
    """The page: alerts, metric trends, predictions against the reference, drift.

    ``thresholds`` maps each watched metric to its alert threshold;
    ``reference`` is the deployment's profile (None for deployments made
    before profiles) and ``window`` the drift step's current counts.
    """
    title = f"Monitoring report: {about.get('name')}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="about">'
        + escape(
            f"version {about.get('version')}, deployed {about.get('deployment_time')}, "
            f"report made {about.get('generated_at')}"
        )
        + "</p>",
        alerts_section(summary["alerts"]),
        metrics_section(summary["metrics"], history, thresholds),
        live_evaluation_section(history),
        predictions_section(summary["predictions"], reference, window),
        drift_section(summary.get("drift") or {}, reference, window),
        f"<script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"


def alerts_section(alerts: dict[str, Any]) -> str:
    active = alerts.get("active_alerts") or []
    if alerts.get("enabled") is False:
        body = f"<p>{escape(alerts['message'])}</p>"
    elif not active:
        body = '<p class="ok">No active alerts.</p>'
    else:
        body = '<ul class="alerts">' + "".join(f"<li>{escape(alert_text(a))}</li>" for a in active) + "</ul>"
    return f'<section id="alerts"><h2>Active alerts ({len(active)})</h2>{body}</section>'


def metrics_section(
    metrics: dict[str, Any], history: list[dict[str, Any]], thresholds: dict[str, float]
) -> str:
    """A trend chart per metric over the metrics log, and the training-vs-live table.

    With live evaluations, the metrics they measure are charted (training's
    cross-validation scores have no live counterpart); before, training's.
    """
    live = [record for record in history if record.get("source") == "live"]
    charted = live or history[:1]
    shown = list(dict.fromkeys(name for record in charted for name in record.get("metrics", {})))
    charts = []
    for name in shown:
        points = [
            (record.get("source") or "log", record.get("timestamp", ""), record["metrics"][name])
            for record in history
            if isinstance(record.get("metrics", {}).get(name), (int, float))
        ]
        chart = trend_chart(points, thresholds.get(name), name)
        charts.append(f'<div class="chart"><h3>{escape(name)}</h3>{chart}</div>')
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class='number'>{training}</td><td class='number'>{latest}</td>"
        f"<td class='number'>{change}</td></tr>"
        for name, training, latest, change in side_by_side(metrics)
    )
    evaluations = (metrics.get("live") or {}).get("evaluations", 0)
    note = (
        f"{evaluations} live evaluation(s) since training."
        if evaluations
        else "No live evaluation yet: <code>make-mlops-easy evaluate LABELLED_DATA MODEL_DIR</code> adds one."
    )
    return (
        '<section id="metrics"><h2>Metrics</h2>'
        f"<p>{note} Squares: training day; dots: live evaluations; dashed: the alert threshold.</p>"
        f'<div class="charts">{"".join(charts) or "<p>No metrics logged.</p>"}</div>'
        "<table><thead><tr><th>metric</th><th>training</th><th>latest live</th><th>change</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def live_evaluation_section(history: list[dict[str, Any]]) -> str:
    """The latest live evaluation's confusion matrix and per-class scores (a classifier's; else nothing)."""
    live = [record for record in history if record.get("source") == "live"]
    classification = live[-1].get("classification") if live else None
    if not classification:
        return ""
    labels = [escape(str(label)) for label in classification["labels"]]
    head = "".join(f"<th>{label}</th>" for label in labels)
    rows = []
    for label, counts in zip(labels, classification["confusion_matrix"], strict=True):
        total = max(sum(counts), 1)
        cells = "".join(
            f"<td class='number' style='background: rgba(123, 143, 199, {count / total:.2f})' "
            f"title='{count / total:.1%} of true {label}'>{count}</td>"
            for count in counts
        )
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    per_class = "".join(
        f"<tr><td>{escape(str(row['label']))}</td><td class='number'>{row['precision']:.4f}</td>"
        f"<td class='number'>{row['recall']:.4f}</td><td class='number'>{row['f1_score']:.4f}</td>"
        f"<td class='number'>{row['support']}</td></tr>"
        for row in classification["per_class"]
    )
    notes = [
        f"{escape(name)} not measured: {escape(why)}." for name, why in classification["not_computed"].items()
    ]
    if classification.get("positive_class") is not None:
        notes.insert(0, f"roc_auc is of the positive class {escape(str(classification['positive_class']))}.")
    return (
        '<section id="live-evaluation"><h2>Latest live evaluation</h2>'
        f"<p>{escape(str(live[-1].get('timestamp', ''))[:19].replace('T', ' '))}: "
        "rows are the true labels, columns the predicted ones.</p>"
        f'<table class="confusion"><thead><tr><th>true \\ predicted</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<h3>Per class</h3><table><thead><tr><th>class</th><th>precision</th><th>recall</th>"
        f"<th>f1_score</th><th>support</th></tr></thead><tbody>{per_class}</tbody></table>"
        + (f'<p class="notes">{" ".join(notes)}</p>' if notes else "")
        + "</section>"
    )


def predictions_section(
    predictions: dict[str, Any], reference: dict[str, Any] | None, window: dict[str, Any]
) -> str:
    total = predictions.get("total_predictions", 0)
    header = f'<section id="predictions"><h2>Predictions</h2><p>{total} prediction(s) logged.</p>'
    current = window.get("prediction")
    if reference is None or current is None:
        return header + "<p>No reference distribution to compare with.</p></section>"
    labels, before, after = histogram(reference["prediction"], current)
    x_title = "predicted class" if reference["prediction"]["kind"] == "categorical" else "predicted value"
    chart = bar_chart(labels, before, after, width=640, height=240, axis=(x_title, "share of rows"))
    return (
        header
        + legend("hold-out predictions (training)", f"logged predictions ({window.get('rows', 0)} in window)")
        + f'<div class="chart">{chart}</div></section>'
    )


def drift_section(drift: dict[str, Any], reference: dict[str, Any] | None, window: dict[str, Any]) -> str:
    header = '<section id="drift"><h2>Drift</h2>'
    if drift.get("enabled") is False or "message" in drift:
        return header + f"<p>{escape(drift.get('message', 'drift is not monitored'))}</p></section>"
    verdict = "Dataset drift" if drift["dataset_drift"] else "No dataset drift"
    summary = (
        f"<p><strong>{verdict}</strong>: {drift['share_drifted']:.0%} of the features drifted "
        f"(window {escape(str(drift['window']))}, {drift['rows']} rows).</p>"
    )
    rows = []
    for name, feature in drift["features"].items():  # sorted by score, highest first
        labels, before, after = histogram(reference["features"][name], window["features"][name])
        status = "drifted" if feature["drifted"] else ("warning" if feature.get("warning") else "ok")
        rows.append(
            f"<tr class='{'drifted' if feature['drifted'] else ''}'><td>{escape(name)}</td>"
            f"<td>{feature['kind']}</td><td>{feature['stat']}</td>"
            f"<td class='number' data-value='{feature['score']:.6f}'>{feature['score']:.4f}</td>"
            f"<td class='number'>{threshold_cell(feature)}</td><td>{status}</td>"
            f"<td>{bar_chart(labels, before, after, width=180, height=40)}</td></tr>"
        )
    prediction = drift.get("prediction")
    about_predictions = (
        f"<p>Predictions: {prediction['stat']} {prediction['score']:.4f} "
        f"({'drifted' if prediction['drifted'] else 'ok'}, threshold {threshold_cell(prediction)}).</p>"
        if prediction
        else ""
    )
    return (
        header
        + summary
        + about_predictions
        + legend("training", "live window")
        + '<table class="sortable"><thead><tr><th>feature</th><th>kind</th><th>statistic</th><th>score</th>'
        "<th>threshold</th><th>verdict</th><th>reference vs current</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def threshold_cell(verdict: dict[str, Any]) -> str:
    """The threshold applied at this window's rows; hovering it tells the configured one and the p-value."""
    about = f"configured {verdict['threshold']:g}"
    if verdict.get("p_value") is not None:
        about += f", p-value {verdict['p_value']:.3g}"
    return f"<span title='{escape(about)}'>{verdict['applied_threshold']:.4g}</span>"


def legend(reference: str, current: str) -> str:
    return (
        f'<p class="legend"><span style="background:{REFERENCE_COLOUR}"></span>{escape(reference)}'
        f'<span style="background:{CURRENT_COLOUR}"></span>{escape(current)}</p>'
    )


def histogram(profile: dict[str, Any], current: list[int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bar labels and the reference's and current shares per bar, for a profiled column."""
    reference, live = np.asarray(profile["counts"], dtype=float), np.asarray(current, dtype=float)
    if profile["kind"] == "numeric":
        reference, live = np.asarray(numeric_entries(reference)), np.asarray(numeric_entries(live))
    if profile["kind"] == "categorical":
        names = [*profile["categories"], "other", "missing"]
        keep = min(CATEGORY_BARS, len(profile["categories"]))
        groups = np.array([*range(keep), *[keep] * (len(profile["categories"]) - keep), keep, keep + 1])
        labels = [*names[:keep], "other", "missing"]
    else:
        groups, labels = numeric_groups(profile)
    before = np.bincount(groups, weights=reference, minlength=len(labels))
    after = np.bincount(groups, weights=live, minlength=len(labels))
    empty_extra = {"other", "missing"}  # drawn only when something falls there
    shown = [i for i, label in enumerate(labels) if before[i] or after[i] or label not in empty_extra]
    labels = [labels[i] for i in shown]
    before, after = before[shown], after[shown]
    return labels, before / max(before.sum(), 1), after / max(after.sum(), 1)


def numeric_groups(profile: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Each entry ``[under, bins..., over, missing]`` of a numeric profile, mapped to an equal-width bar
    between the training minimum and maximum (out-of-range values to the end bars, missing its own)."""
    low, high = profile["low"], profile["high"]
    entries = len(numeric_entries(profile["counts"]))
    if low is None or high is None or high <= low:
        return np.zeros(entries, dtype=int), ["all"]
    bounds = np.concatenate([[low], profile["edges"], [high]])
    midpoints = np.concatenate([[low], (bounds[:-1] + bounds[1:]) / 2, [high]])
    position = ((midpoints - low) / (high - low) * HISTOGRAM_BARS).astype(int)
    groups = np.clip(position, 0, HISTOGRAM_BARS - 1)
    step = (high - low) / HISTOGRAM_BARS
    labels = [f"{low + i * step:.3g}" for i in range(HISTOGRAM_BARS)]
    return np.append(groups, HISTOGRAM_BARS), [*labels, "missing"]


def text_width(text: str) -> float:
    """About how wide ``text`` is drawn in the charts' font (on the generous side)."""
    return len(text) * CHAR_PX


def crisp(position: float) -> float:
    """A 1-px line's position on a pixel's centre: drawn sharp, in its exact colour."""
    return math.floor(position) + 0.5


def axis_titles(width: int, height: int, left: float, top: float, bottom: float, x: str, y: str) -> str:
    """The x-axis title centred under the plot, the y-axis title rotated beside it (cut to fit)."""
    plot_height = height - top - bottom
    y = y if text_width(y) <= plot_height else y[: max(int(plot_height / CHAR_PX) - 1, 1)] + "…"
    return (
        f'<text class="axis-title" x="{(left + width) / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">{escape(x)}</text>'
        f'<text class="axis-title" transform="translate(12 {top + plot_height / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y)}</text>'
    )


def bar_chart(
    labels: list[str],
    before: np.ndarray,
    after: np.ndarray,
    width: int,
    height: int,
    axis: tuple[str, str] | None = None,
) -> str:
    """Paired bars (reference, current) per label, as inline SVG; with ``axis`` (the x and y titles),
    a share axis and the labels under the bars, inside margins wide enough for them."""
    shown = [str(label)[:10] for label in labels]
    top = max(float(before.max(initial=0)), float(after.max(initial=0)), 1e-9)
    left, right, top_margin, bottom = 0.0, 0.0, 2, 2
    if axis:
        ticks = ["0%", f"{top:.0%}"]
        left = AXIS_TITLE_PX + 6 + max(map(text_width, ticks)) + 6
        right = max(10.0, text_width(shown[-1]) / 2 + 2) if shown else 10.0
        top_margin, bottom = 8, 22 + AXIS_TITLE_PX
    slot = (width - left - right) / max(len(labels), 1)
    left = math.ceil(max(left, text_width(shown[0]) / 2 + 2 - slot / 2) if axis and shown else left)
    slot = (width - left - right) / max(len(labels), 1)
    scale = (height - bottom - top_margin) / top
    base = height - bottom
    shapes = []
    for i, label in enumerate(labels):
        x = left + i * slot
        for offset, share, colour in ((0.1, before[i], REFERENCE_COLOUR), (0.5, after[i], CURRENT_COLOUR)):
            bar = share * scale
            shapes.append(
                f'<rect x="{x + offset * slot:.1f}" y="{base - bar:.1f}" '
                f'width="{0.4 * slot:.1f}" height="{bar:.1f}" fill="{colour}">'
                f"<title>{escape(str(label))}: {share:.1%}</title></rect>"
            )
        if axis and (len(labels) <= CATEGORY_BARS + 2 or i % 4 == 0 or label == "missing"):
            shapes.append(
                f'<text x="{x + slot / 2:.1f}" y="{base + 14}" text-anchor="middle">{escape(shown[i])}</text>'
            )
    if axis:
        shapes += [
            f'<line x1="{crisp(left)}" y1="{top_margin}" x2="{crisp(left)}" y2="{base}" stroke="#999"/>',
            f'<line x1="{left}" y1="{crisp(base)}" x2="{width - right:.1f}" y2="{crisp(base)}" '
            'stroke="#999"/>',
            f'<text x="{left - 4:.1f}" y="{base}" text-anchor="end">0%</text>',
            f'<text x="{left - 4:.1f}" y="{top_margin + 8}" text-anchor="end">{top:.0%}</text>',
            axis_titles(width, height, left, top_margin, bottom, *axis),
        ]
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(shapes)}</svg>'
    )


def trend_chart(points: list[tuple[str, str, float]], threshold: float | None, name: str) -> str:
    """A metric over its logs (training day a square, live evaluations dots) and its threshold.

    The y axis (titled with the metric) is labelled with the lowest and highest
    value, the x axis (evaluation time) with the first and last log's minute.
    """
    width, height, right, bottom, top_margin, inset = 320, 170, 12, 22 + AXIS_TITLE_PX, 16, 12
    values = [value for _, _, value in points] + ([threshold] if threshold is not None else [])
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 0.05
    low, high = low - pad, high + pad
    ticks = [f"{high - pad:.3g}", f"{low + pad:.3g}"]
    left = math.ceil(AXIS_TITLE_PX + 6 + max(map(text_width, ticks)) + 6)
    plot_width, plot_height = width - left - right - 2 * inset, height - bottom - top_margin
    base = height - bottom

    def x(i: int) -> float:
        return left + inset + (plot_width * i / (len(points) - 1) if len(points) > 1 else plot_width / 2)

    def y(value: float) -> float:
        return top_margin + plot_height * (high - value) / (high - low)

    shapes = [
        f'<line x1="{crisp(left)}" y1="{top_margin}" x2="{crisp(left)}" y2="{base}" stroke="#999"/>',
        f'<line x1="{left}" y1="{crisp(base)}" x2="{width - right}" y2="{crisp(base)}" stroke="#999"/>',
        f'<text x="{left - 4:.1f}" y="{y(high - pad) + 4:.1f}" text-anchor="end">{ticks[0]}</text>',
        f'<text x="{left - 4:.1f}" y="{y(low + pad) + 4:.1f}" text-anchor="end">{ticks[1]}</text>',
    ]
    if threshold is not None:
        shapes.append(
            f'<line x1="{left}" y1="{crisp(y(threshold))}" x2="{width - right}" y2="{crisp(y(threshold))}" '
            f'stroke="{THRESHOLD_COLOUR}" stroke-dasharray="5,4"/>'
            f'<text x="{width - right}" y="{y(threshold) - 3:.1f}" text-anchor="end" '
            f'style="fill:{THRESHOLD_COLOUR}">threshold {threshold:g}</text>'
        )
    if len(points) > 1:
        path = " ".join(f"{x(i):.1f},{y(value):.1f}" for i, (_, _, value) in enumerate(points))
        shapes.append(f'<polyline points="{path}" fill="none" stroke="{CURRENT_COLOUR}" stroke-width="2"/>')
    for i, (source, timestamp, value) in enumerate(points):
        tip = f"<title>{escape(source)} {escape(str(timestamp)[:19])}: {value:.4f}</title>"
        if source == "training":
            shapes.append(
                f'<rect x="{x(i) - 5:.1f}" y="{y(value) - 5:.1f}" width="10" height="10" '
                f'fill="{REFERENCE_COLOUR}">{tip}</rect>'
            )
        else:
            shapes.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="4.5" fill="{CURRENT_COLOUR}">{tip}</circle>'
            )
    first, last = (minute(points[0][1]), minute(points[-1][1]))
    if first == last:  # one log, or all in the same minute
        centre = left + inset + plot_width / 2
        shapes.append(f'<text x="{centre:.1f}" y="{base + 14}" text-anchor="middle">{escape(first)}</text>')
    else:
        shapes.append(f'<text x="{left:.1f}" y="{base + 14}">{escape(first)}</text>')
        shapes.append(f'<text x="{width - right}" y="{base + 14}" text-anchor="end">{escape(last)}</text>')
    shapes.append(axis_titles(width, height, left, top_margin, bottom, "evaluation time", name))
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(shapes)}</svg>'
    )


def minute(timestamp: Any) -> str:
    """``2024-01-01 12:00``: a log's timestamp to the minute, as the x axis shows it."""
    return str(timestamp)[:16].replace("T", " ")
