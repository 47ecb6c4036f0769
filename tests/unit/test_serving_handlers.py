"""What the server answers, without a server: the framework-free handlers on real deployments.

Each request runs through :func:`invocations` with a real micro-batcher
scoring a real trained deployment in an event loop, as a worker does; no
HTTP, no process. tests/e2e/test_serve.py checks the same protocol over real
HTTP against a real server.
"""

import asyncio
import json
import threading

import orjson
import pandas as pd
import pytest

from easy_mlops.config.compose import compose_config
from easy_mlops.deployment import Deployment
from easy_mlops.jsonsafe import json_values
from easy_mlops.pipeline import run_experiment
from easy_mlops.serving.batching import MicroBatcher
from easy_mlops.serving.handlers import (
    NO_RELOAD,
    PING,
    UNAUTHORIZED,
    Answer,
    authorized,
    health_document,
    invocations,
    metadata_document,
    read_body,
    reload_document,
    version_document,
)
from easy_mlops.serving.requests import RequestError

from helpers import FAILING_MODEL, make_classification_frame, make_regression_frame

FEATURES = ["x1", "x2", "count", "city"]
JSON = "application/json"


def train(root, frame: pd.DataFrame, *overrides: str) -> Deployment:
    data = root / "data.csv"
    frame.to_csv(data, index=False)
    small = [] if any(o.startswith("trainer=") for o in overrides) else ["trainer.model.n_estimators=5"]
    cfg = compose_config(
        ["data=csv", f"data.path={data}", f"deployment.output_dir={root / 'models'}", *small, *overrides]
    )
    return Deployment.load(run_experiment(cfg)["deployment"]["deployment_dir"])


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Deployment:
    return train(tmp_path_factory.mktemp("classifier"), make_classification_frame())


@pytest.fixture(scope="module")
def regressor(tmp_path_factory) -> Deployment:
    return train(tmp_path_factory.mktemp("regressor"), make_regression_frame())


def answer(
    deployment: Deployment,
    body: bytes,
    content_type: str = JSON,
    query: dict | None = None,
    timeout_s: float = 30.0,
    gate: threading.Event | None = None,
) -> Answer:
    """``POST /invocations`` as a worker answers it: a micro-batcher scoring with ``deployment``;
    with ``gate``, the scoring thread waits for it first (a model that is slow to answer)."""

    def score(frame: pd.DataFrame, proba: bool):
        if gate is not None:
            gate.wait(30)
        return deployment.score(frame, proba=proba)

    async def run() -> Answer:
        batcher = MicroBatcher(score)
        batcher.start()
        try:
            return await invocations(body, content_type, query or {}, deployment, batcher.predict, timeout_s)
        finally:
            if gate is not None:
                gate.set()
            await batcher.stop()

    return asyncio.run(run())


def rows(count: int = 12) -> pd.DataFrame:
    return make_classification_frame(rows=count, seed=7)[FEATURES]


def as_json(document) -> bytes:
    return orjson.dumps(document)


def test_every_request_format_answers_one_prediction_per_row_in_order(classifier):
    features = rows()
    want = json_values(classifier.predict(features))
    shuffled = features[["city", "count", "x2", "x1"]].assign(extra=1)  # reordered, one column too many
    bodies = {
        "dataframe_split": as_json(
            {"dataframe_split": json.loads(shuffled.to_json(orient="split", index=False))}
        ),
        "dataframe_records": as_json({"dataframe_records": json.loads(shuffled.to_json(orient="records"))}),
        "instances": as_json({"instances": json.loads(features.to_json(orient="records"))}),
        "instances-rows": as_json({"instances": json.loads(features.to_json(orient="values"))}),
        "inputs": as_json(
            {"inputs": {name: json.loads(features[name].to_json(orient="values")) for name in FEATURES}}
        ),
    }
    for name, body in bodies.items():
        result = answer(classifier, body)
        assert (result.status, result.document, result.warning) == (200, {"predictions": want}, None), name
        assert result.body() == b'{"predictions":' + orjson.dumps(want) + b"}"  # the wire format
    csv = answer(classifier, shuffled.to_csv(index=False).encode(), "text/csv; charset=utf-8")
    assert (csv.status, csv.document) == (200, {"predictions": want})


@pytest.mark.parametrize(
    ("body", "content_type", "query", "status", "says"),
    [
        (b'{"dataframe_split": ', JSON, {}, 400, "malformed JSON"),
        (b"[1, 2]", JSON, {}, 400, "must be a JSON object"),
        (b'{"columns": ["x1"]}', JSON, {}, 400, "exactly one of"),
        (b'{"instances": [], "inputs": []}', JSON, {}, 400, "found instances, inputs"),
        (b'{"dataframe_records": []}', JSON, {}, 400, "'dataframe_records' has no rows"),
        (b'{"dataframe_split": {"columns": ["x1"]}}', JSON, {}, 400, "needs 'data'"),
        (b'{"instances": [[1, 2, 3, "a"]], "params": []}', JSON, {}, 400, "'params' must be a JSON object"),
        (b'{"instances": [[1, 2, 3, "a"]], "params": {"proba": 1}}', JSON, {}, 400, "not 1"),
        (b'{"instances": [[1, 2, 3, "a"]]}', JSON, {"proba": "maybe"}, 400, "'?proba=maybe'"),
        (b'x1,x2\n"1,2\n', "text/csv", {}, 400, "malformed CSV"),
        (b"x1=1", "application/x-www-form-urlencoded", {}, 415, "unsupported content type"),
        (b'{"dataframe_records": [{"x1": 1, "city": "lyon"}]}', JSON, {}, 422, "x2, count"),
        (b'{"dataframe_records": [{"x1": "high", "x2": 1, "count": 2, "city": "a"}]}', JSON, {}, 422, "x1"),
    ],
    ids=[
        "malformed",
        "not-an-object",
        "no-key",
        "two-keys",
        "no-rows",
        "split-without-data",
        "params-not-an-object",
        "proba-not-a-flag",
        "query-flag",
        "malformed-csv",
        "content-type",
        "missing-columns",
        "not-a-number",
    ],
)
def test_bad_requests_get_one_line_and_nothing_to_log(classifier, body, content_type, query, status, says):
    result = answer(classifier, body, content_type, query)
    assert result.status == status, result.document
    message = result.document["error"]
    assert says in message and "\n" not in message and "Traceback" not in message
    assert result.warning is None and json.loads(result.body()) == result.document


def test_class_probabilities_by_params_or_query_flag(classifier, regressor):
    features = rows()
    want = {
        "predictions": json_values(classifier.predict(features)),
        "classes": classifier.classes.tolist(),
        "probabilities": classifier.predict_proba(features).tolist(),
    }
    records = json.loads(features.to_json(orient="records"))
    by_params = answer(classifier, as_json({"dataframe_records": records, "params": {"proba": True}}))
    assert by_params.status == 200 and json.loads(by_params.body()) == want
    by_query = answer(classifier, features.to_csv(index=False).encode(), "text/csv", {"proba": "true"})
    assert json.loads(by_query.body()) == want
    # The body's params win over the query's flag.
    off = answer(
        classifier, as_json({"instances": records, "params": {"proba": False}}), query={"proba": "1"}
    )
    assert off.document == {"predictions": want["predictions"]}

    regression_rows = json.loads(
        make_regression_frame(rows=3).drop(columns="price").to_json(orient="records")
    )
    refused = answer(regressor, as_json({"instances": regression_rows}), query={"proba": "true"})
    assert refused.status == 400 and refused.document["error"] == (
        f"{regressor.name}: a regression deployment predicts numbers, not class probabilities; "
        "predict without proba"
    )


def test_a_failure_inside_the_model_is_a_500_with_its_message_and_a_warning(tmp_path, monkeypatch):
    (tmp_path / "fussy_model.py").write_text(FAILING_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    deployment = train(
        tmp_path,
        make_classification_frame(),
        "trusted_modules=[fussy_model]",
        "trainer=logistic_regression",
        "trainer.model._target_=fussy_model.Fussy",
        *(f"~trainer.model.{key}" for key in ("C", "max_iter", "random_state")),
        "preprocessing.numeric.scaler=null",
    )
    fine = {"x1": 1.0, "x2": 0.5, "count": 3, "city": "lyon"}
    assert answer(deployment, as_json({"instances": [fine]})).status == 200
    failed = answer(deployment, as_json({"instances": [dict(fine, x1=9.0)]}))
    assert failed.status == 500
    assert failed.document == {
        "error": "the model failed: RuntimeError: cannot score a first feature above 5"
    }
    assert failed.warning == "predict failed: RuntimeError: cannot score a first feature above 5"


def test_a_request_not_scored_in_time_is_a_503(classifier):
    gate = threading.Event()  # the scoring thread is busy until the answer is given
    body = as_json({"instances": json.loads(rows(1).to_json(orient="records"))})
    late = answer(classifier, body, timeout_s=0.05, gate=gate)
    assert late.status == 503
    assert late.document == {"error": "not scored within serve.timeout_s (0.05 s)"}


def read(chunks: list[bytes], declared: str | None, max_body_mb: float) -> tuple[bytes | int, int]:
    """``read_body``'s bytes (or its refusal's status) and how many chunks it took."""
    taken = 0

    async def stream():
        nonlocal taken
        for chunk in chunks:
            taken += 1
            yield chunk

    async def run():
        try:
            return await read_body(stream(), declared, max_body_mb)
        except RequestError as exc:
            assert str(exc) == f"body over serve.max_body_mb ({max_body_mb} MB)"
            return exc.status

    return asyncio.run(run()), taken


def test_a_body_over_the_limit_is_refused_before_it_is_all_read():
    kilobyte = b"x" * 1024
    limit_mb = 4 / 1024  # 4 KiB
    assert read([kilobyte] * 4, "4096", limit_mb) == (kilobyte * 4, 4)  # at the limit: whole
    assert read([kilobyte] * 5, "5120", limit_mb) == (413, 0)  # its Content-Length says: nothing read
    assert read([kilobyte] * 50, None, limit_mb) == (413, 5)  # no length: read up to the limit only
    assert read([kilobyte] * 50, "100", limit_mb) == (413, 5)  # a length that lies does not help


def test_the_other_endpoints_documents(classifier):
    assert health_document(classifier) == {"status": "ok", "deployment": classifier.name}
    assert version_document(classifier) == {"name": classifier.name, "version": "1.0.0"}
    metadata = metadata_document(classifier)
    assert metadata["problem_type"] == "classification" and metadata["target_column"] == "churn"
    assert [column["name"] for column in metadata["input_schema"]] == FEATURES
    assert set(metadata["training_metrics"]) >= {"accuracy", "f1_score"}
    assert metadata["created_at"] == classifier.metadata["created_at"]
    assert reload_document(False, classifier) == {"reloaded": False, **version_document(classifier)}
    assert (PING.status, PING.body(), PING.media_type) == (200, b"\n", "text/plain")
    assert (UNAUTHORIZED.status, json.loads(UNAUTHORIZED.body())) == (
        401,
        {"error": "missing or wrong bearer token"},
    )
    assert NO_RELOAD.status == 404 and "SIGHUP" in NO_RELOAD.document["error"]


def test_the_bearer_token():
    assert authorized(None, None) and authorized("Basic abc", None)  # no token: every call
    assert authorized("Bearer s3cret", "s3cret") and authorized("bearer  s3cret ", "s3cret")
    for header in (None, "", "Bearer", "Bearer wrong", "Basic s3cret", "s3cret", "Bearers3cret"):
        assert not authorized(header, "s3cret"), header
