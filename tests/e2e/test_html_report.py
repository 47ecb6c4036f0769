"""``observe --html``: one self-contained page, opened in a real browser (Debian's Chromium)."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from easy_mlops.observability.html_report import CURRENT_COLOUR, REFERENCE_COLOUR, THRESHOLD_COLOUR
from easy_mlops.pipeline import run_experiment

NUMERIC, CATEGORICAL = 40, 10
SHIFTED = ("n0", "n1", "n2", "c0")  # moved in the live data; the other 46 features are not
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def wide_table(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"n{i}": rng.normal(size=rows) for i in range(NUMERIC)})
    for i in range(CATEGORICAL):
        frame[f"c{i}"] = rng.choice([f"v{k}" for k in range(8)], rows)
    for name in SHIFTED:
        if name.startswith("n"):
            frame[name] += shift
        elif shift:
            frame[name] = "v0"
    frame["y"] = np.where(frame.n0 + frame.n5 > 0, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A deployment with 50 features, drifted live data, two live evaluations, and its HTML report."""
    from easy_mlops.config.compose import compose_config
    from easy_mlops.evaluation import evaluate_file
    from easy_mlops.inference import predict_file

    work = tmp_path_factory.mktemp("html")
    wide_table(3000, 0).to_csv(work / "train.csv", index=False)
    wide_table(1500, 1, shift=1.0).drop(columns="y").to_csv(work / "live.csv", index=False)
    wide_table(500, 2).to_csv(work / "week1.csv", index=False)
    wide_table(500, 3, shift=1.0).assign(y="no").to_csv(work / "week2.csv", index=False)
    cfg = compose_config(
        [
            "data=csv",
            f"data.path={work / 'train.csv'}",
            f"deployment.output_dir={work / 'models'}",
            "trainer.model.n_estimators=10",
        ]
    )
    deployment = Path(run_experiment(cfg)["deployment"]["deployment_dir"])
    predict_file(work / "live.csv", deployment)
    evaluate_file(work / "week1.csv", deployment)
    evaluate_file(work / "week2.csv", deployment)
    return work, deployment


def chromium(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is not installed: `make test` installs it (apt-get install chromium)"
    profile = cwd / "chromium-profile"
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_the_page_is_self_contained_small_and_complete(cli, report):
    work, deployment = report
    result = cli("observe", deployment, "--html", work / "report.html")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote the HTML report to {work / 'report.html'}\n"  # not the text report
    page = (work / "report.html").read_text()
    assert len(page.encode()) < 1_000_000  # 50 features
    assert not re.search(r"https?://|\bsrc=|<link\b|@import", page)  # nothing to fetch: opens offline
    for section in ("alerts", "metrics", "predictions", "drift"):
        assert f'<section id="{section}">' in page
    table = page[page.index('<table class="sortable">') :]
    features = re.findall(r"<tr class='(drifted)?'><td>([^<]+)</td>", table)
    assert len(features) == NUMERIC + CATEGORICAL
    assert {name for drifted, name in features if drifted} == set(SHIFTED)
    assert all(drifted for drifted, _ in features[: len(SHIFTED)])  # the drifted features first
    scores = [float(value) for value in re.findall(r"data-value='([0-9.]+)'", table)]
    assert scores == sorted(scores, reverse=True)
    status = json.loads(cli("status", deployment, "--json").stdout)
    for alert in status["alerts"]["active_alerts"]:
        assert alert.get("feature", alert["metric"]) in page
    charted = re.findall(r'<div class="chart"><h3>([^<]+)</h3><svg', page)
    assert charted == ["accuracy", "f1_score", "precision", "recall", "roc_auc", "log_loss"]
    assert page.count("<svg") == len(charted) + 1 + NUMERIC + CATEGORICAL  # trends, predictions, features


def test_the_latest_live_evaluation_shows_its_confusion_matrix_and_classes(cli, report):
    work, deployment = report
    assert cli("observe", deployment, "--html", work / "classes.html").returncode == 0
    page = (work / "classes.html").read_text()
    section = page[page.index('<section id="live-evaluation">') :]
    section = section[: section.index("</section>")]
    logged = [json.loads(line) for line in (deployment / "logs" / "metrics_history.jsonl").open()]
    latest = logged[-1]["classification"]  # week2: every label "no"
    assert latest["labels"] == ["no", "yes"] and latest["confusion_matrix"][1] == [0, 0]
    matrix = section[: section.index("</table>")]
    headings = re.findall(r"<th>([^<]*)</th>", matrix)
    assert headings == ["true \\ predicted", "no", "yes", "no", "yes"]  # columns, then row labels
    cells = [int(count) for count in re.findall(r"<td class='number'[^>]*>(\d+)</td>", matrix)]
    assert cells == [count for row in latest["confusion_matrix"] for count in row]
    classes = re.findall(r"<tr><td>(no|yes)</td>((?:<td class='number'>[^<]+</td>){4})</tr>", section)
    assert [label for label, _ in classes] == ["no", "yes"]
    assert f"<td class='number'>{latest['per_class'][0]['recall']:.4f}</td>" in classes[0][1]
    assert "roc_auc not measured: the labels hold a single class (no)" in section


def test_html_says_where_it_went_and_the_text_report_is_still_there(cli, report):
    work, deployment = report
    both = cli("observe", deployment, "--html", work / "both.html", "-o", work / "both.txt")
    assert both.returncode == 0, both.stderr
    assert both.stdout == f"wrote the HTML report to {work / 'both.html'}\n"
    assert (work / "both.txt").read_text().startswith("MODEL MONITORING REPORT")  # -o: the text, still
    assert "<svg" in (work / "both.html").read_text()
    assert "MODEL MONITORING REPORT" in cli("observe", deployment).stdout  # without --html: printed


def test_chromium_renders_it_with_no_console_error(cli, report):
    work, deployment = report
    assert cli("observe", deployment, "--html", work / "shown.html").returncode == 0
    url = (work / "shown.html").as_uri()

    dom = chromium("--dump-dom", url, cwd=work)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<body data-ready="yes">' in dom.stdout  # the page's script ran to its end
    assert console_messages(dom.stderr) == []

    shot = work / "shot.png"
    taken = chromium("--window-size=1280,7000", f"--screenshot={shot}", url, cwd=work)
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    assert console_messages(taken.stderr) == []
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50  # not blank
    # The charts were drawn, in every colour: bars and dots, and the thin dashed threshold lines.
    for colour, least in ((REFERENCE_COLOUR, 2000), (CURRENT_COLOUR, 2000), (THRESHOLD_COLOUR, 100)):
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        drawn = int((pixels == rgb).all(axis=1).sum())
        assert drawn > least, f"{colour}: {drawn} pixels"


# Run in the page after its own script: where each chart's text landed, against its SVG's box.
LAYOUT_CHECK = """<script>
var charts = [];
document.querySelectorAll("svg").forEach(function (svg) {
  var box = svg.getBoundingClientRect();
  var heading = svg.closest(".chart") && svg.closest(".chart").querySelector("h3");
  charts.push({
    section: svg.closest("section").id,
    name: heading ? heading.textContent : null,
    texts: Array.prototype.map.call(svg.querySelectorAll("text"), function (text) {
      var r = text.getBoundingClientRect();
      return {
        text: text.textContent,
        vertical: Math.abs(text.getCTM().b) > 0.9,  // turned a quarter: the y axis's title
        outside: Math.max(box.left - r.left, r.right - box.right, box.top - r.top, r.bottom - box.bottom)
      };
    })
  });
});
var out = document.createElement("pre");
out.id = "layout";
out.textContent = JSON.stringify(charts);
document.body.appendChild(out);
</script>"""


def chart_layout(page: Path, work: Path) -> list[dict]:
    """Each SVG of ``page`` as Chromium lays it out: its section, its heading, and every text's box."""
    checked = page.with_name(f"checked-{page.name}")
    checked.write_text(page.read_text().replace("</body>", LAYOUT_CHECK + "</body>"))
    dom = chromium("--dump-dom", checked.as_uri(), cwd=work)
    assert dom.returncode == 0 and console_messages(dom.stderr) == [], dom.stderr[-2000:]
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


def check_axes(charts: list[dict], predicted: str) -> None:
    """No text outside its SVG; every chart with axes names both: the metric over evaluation time,
    the share of rows over the predicted classes or values."""
    clipped = [(c["name"] or c["section"], t["text"], t["outside"]) for c in charts for t in c["texts"]]
    assert [problem for problem in clipped if problem[2] > 0.5] == []
    titled = {"metrics": [], "predictions": []}
    for chart in charts:
        if chart["section"] in titled:
            horizontal = [t["text"] for t in chart["texts"] if not t["vertical"]]
            vertical = [t["text"] for t in chart["texts"] if t["vertical"]]
            titled[chart["section"]].append((chart["name"], horizontal, vertical))
    assert titled["metrics"], "no trend chart"
    for name, horizontal, vertical in titled["metrics"]:
        assert "evaluation time" in horizontal and vertical == [name], (name, horizontal, vertical)
    [(_, horizontal, vertical)] = titled["predictions"]
    assert predicted in horizontal and vertical == ["share of rows"], (horizontal, vertical)


def test_every_axis_is_named_and_no_label_is_cut_off(cli, report, compose, tmp_path, models_dir):
    work, deployment = report
    assert cli("observe", deployment, "--html", work / "axes.html").returncode == 0
    check_axes(chart_layout(work / "axes.html", work), "predicted class")

    # Numbers as wide as they get: prices in the hundreds of thousands, errors in the billions.
    from easy_mlops.evaluation import evaluate_file
    from easy_mlops.inference import predict_file

    from helpers import make_regression_frame

    frame = make_regression_frame(600).assign(price=lambda f: f.price * 123_456.7)
    frame.to_csv(tmp_path / "prices.csv", index=False)
    frame.drop(columns="price").to_csv(tmp_path / "live.csv", index=False)
    frame.assign(price=frame.price * -3).to_csv(tmp_path / "later.csv", index=False)
    cfg = compose("data=csv", f"data.path={tmp_path / 'prices.csv'}")
    wide = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    predict_file(tmp_path / "live.csv", wide)
    evaluate_file(tmp_path / "later.csv", wide)
    evaluate_file(tmp_path / "prices.csv", wide)
    assert cli("observe", wide, "--html", "wide.html").returncode == 0
    charts = chart_layout(tmp_path / "wide.html", tmp_path)
    check_axes(charts, "predicted value")
    ticks = [t["text"] for chart in charts if chart["name"] == "mse" for t in chart["texts"]]
    assert any("e+" in tick for tick in ticks), ticks  # the widest labels were drawn, inside


def test_the_console_check_sees_errors(tmp_path):
    """The check above can fail: a page with a script error is caught."""
    (tmp_path / "broken.html").write_text("<html><body><script>missing_function();</script></body></html>")
    result = chromium("--dump-dom", (tmp_path / "broken.html").as_uri(), cwd=tmp_path)
    assert any("Uncaught ReferenceError" in line for line in console_messages(result.stderr))


def test_a_report_without_profile_or_live_data_still_opens(
    cli, compose, tmp_path, models_dir, classification_csv
):
    cfg = compose("data=csv", f"data.path={classification_csv}", "~deployment.steps.save_profile")
    deployment = models_dir / run_experiment(cfg)["deployment"]["deployment_name"]
    assert cli("observe", deployment, "--html", "old.html").returncode == 0
    page = (tmp_path / "old.html").read_text()
    assert "no reference profile" in page and "No live evaluation yet" in page

    (tmp_path / "reports").mkdir()
    refused = cli("observe", deployment, "--html", "reports")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: reports: is a directory; give a file name for the report"
