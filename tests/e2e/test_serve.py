"""make-mlops-easy serve: a real server process on a free loopback port, real HTTP (httpx)."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from importlib import metadata
from pathlib import Path

import httpx
import pandas as pd
import pytest
from jsonschema import Draft202012Validator
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client.parser import text_string_to_metric_families

from easy_mlops.config.compose import compose_config
from easy_mlops.pipeline import run_experiment

from helpers import CLI, FAILING_MODEL, ROOT, Server, free_port, make_classification_frame

FEATURES = ["x1", "x2", "count", "city"]


def train(output_dir: Path, data: Path, *overrides: str) -> Path:
    small = [] if any(o.startswith("trainer=") for o in overrides) else ["trainer.model.n_estimators=10"]
    cfg = compose_config(
        ["data=csv", f"data.path={data}", f"deployment.output_dir={output_dir}", *small, *overrides]
    )
    return Path(run_experiment(cfg)["deployment"]["deployment_dir"])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One deployment and a server for it, shared by the tests that do not change either."""
    root = tmp_path_factory.mktemp("served")
    data = root / "churn.csv"
    make_classification_frame().to_csv(data, index=False)
    deployment = train(root / "models", data)
    server = Server(root, str(deployment))
    yield server, deployment, data
    server.stop()


def logged(deployment: Path, expect: int | None = None) -> list[dict]:
    """The deployment's prediction records; with ``expect``, once that many are there
    (the server writes them from a thread, just after answering)."""
    path = deployment / "logs" / "predictions_log.jsonl"
    deadline = time.monotonic() + 10
    while True:
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if expect is None or len(records) >= expect or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def expected(data: Path, rows: slice = slice(0, 20)) -> list:
    """What the deployment predicts for these rows, through make-mlops-easy predict's code path."""
    from easy_mlops.deployment import Deployment
    from easy_mlops.jsonsafe import json_values

    frame = pd.read_csv(data).iloc[rows]
    return json_values(Deployment.load(next(Path(data).parent.glob("models/*"))).predict(frame))


# --------------------------------------------------------------------------- the protocol


def test_every_request_format_answers_one_prediction_per_row_in_order(served):
    server, deployment, data = served
    frame = pd.read_csv(data).iloc[:20]
    want = expected(data)
    features = frame[FEATURES]
    shuffled = features[["city", "count", "x2", "x1"]].assign(extra=1)  # reordered, one column too many
    bodies = {
        "dataframe_split": {"dataframe_split": json.loads(shuffled.to_json(orient="split", index=False))},
        "dataframe_records": {"dataframe_records": json.loads(shuffled.to_json(orient="records"))},
        "instances": {"instances": json.loads(features.to_json(orient="records"))},
        "instances-rows": {"instances": json.loads(features.to_json(orient="values"))},
        "inputs": {
            "inputs": {name: json.loads(features[name].to_json(orient="values")) for name in FEATURES}
        },
    }
    before = len(logged(deployment))
    for name, body in bodies.items():
        response = server.client.post("/invocations", json=body)
        assert response.status_code == 200, (name, response.text)
        assert response.json() == {"predictions": want}, name
    response = server.client.post(
        "/invocations", content=shuffled.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200 and response.json() == {"predictions": want}
    records = logged(deployment, before + 6 * 20)[before:]
    assert len(records) == 6 * 20 and {r["metadata"]["source"] for r in records} == {"serve"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b'{"dataframe_split": ', "application/json", 400, "malformed JSON"),
        (b'{"columns": ["x1"]}', "application/json", 400, "exactly one of"),
        (b'{"instances": [], "inputs": []}', "application/json", 400, "found instances, inputs"),
        (b"x1=1", "application/x-www-form-urlencoded", 415, "unsupported content type"),
        (b'{"dataframe_records": [{"x1": 1, "city": "lyon"}]}', "application/json", 422, "x2, count"),
        (
            b'{"dataframe_records": [{"x1": "high", "x2": 1, "count": 2, "city": "a"}]}',
            "application/json",
            422,
            "x1",
        ),
    ],
    ids=["malformed", "no-key", "two-keys", "content-type", "missing-columns", "not-a-number"],
)
def test_bad_requests_get_one_line_and_are_not_logged(served, body, content_type, status, says):
    server, deployment, _ = served
    before = len(logged(deployment))
    response = server.client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert says in message and "\n" not in message and "Traceback" not in message
    assert len(logged(deployment)) == before
    assert server.client.get("/ping").status_code == 200  # still serving


def probability_client(url: str, rows: list[dict], want: dict, number: int, failures: list) -> None:
    """25 single-row requests, every other one asking for class probabilities; wrong answers recorded."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for request in range(25):
            row, proba = (number * 25 + request) % len(rows), request % 2 == 0
            body = {"instances": [rows[row]], "params": {"proba": proba}}
            expected_answer = {"predictions": [want["predictions"][row]]}
            if proba:
                expected_answer |= {"classes": want["classes"], "probabilities": [want["probabilities"][row]]}
            answer = client.post("/invocations", json=body)
            if answer.status_code != 200 or answer.json() != expected_answer:
                failures.append((row, proba, answer.status_code, answer.text))


def test_class_probabilities_by_params_or_query_flag_also_in_shared_batches(served):
    from easy_mlops.deployment import Deployment

    server, deployment, data = served
    frame = pd.read_csv(data).iloc[:20]
    loaded = Deployment.load(deployment)
    want = {
        "predictions": expected(data),
        "classes": loaded.classes.tolist(),
        "probabilities": loaded.predict_proba(frame).tolist(),
    }
    assert want["classes"] == ["no", "yes"]
    records = json.loads(frame[FEATURES].to_json(orient="records"))
    before = len(logged(deployment))
    by_params = server.client.post(
        "/invocations", json={"dataframe_records": records, "params": {"proba": True}}
    )
    assert by_params.status_code == 200, by_params.text
    assert by_params.json() == want
    by_query = server.client.post(
        "/invocations?proba=true", content=frame.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert by_query.json() == want
    off = server.client.post("/invocations", json={"dataframe_records": records, "params": {"proba": False}})
    assert off.json() == {"predictions": want["predictions"]}

    # Concurrent requests with and without probabilities share batches: each answer holds its own rows.
    failures: list = []
    threads = [
        threading.Thread(target=probability_client, args=(server.url, records, want, number, failures))
        for number in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    served_labels = [record["prediction"] for record in logged(deployment, before + 3 * 20 + 200)[before:]]
    assert len(served_labels) == 260 and set(served_labels) <= {"no", "yes"}  # labels are logged, not rows

    for params, query, says in [
        ({"proba": "yes"}, "", "'params.proba' must be true or false, not \"yes\""),
        ([], "", "'params' must be a JSON object"),
        ({}, "?proba=maybe", "'?proba=maybe'"),
    ]:
        refused = server.client.post(f"/invocations{query}", json={"instances": records, "params": params})
        assert refused.status_code == 400 and says in refused.json()["error"], refused.text
    assert len(logged(deployment)) == before + 260


def test_probabilities_asked_of_a_regression_are_refused_and_not_logged(tmp_path, served):
    from helpers import make_regression_frame

    data = tmp_path / "prices.csv"
    make_regression_frame().to_csv(data, index=False)
    deployment = train(tmp_path / "models", data)
    server = Server(tmp_path, str(deployment))
    try:
        rows = json.loads(pd.read_csv(data).drop(columns="price").iloc[:3].to_json(orient="records"))
        refused = server.client.post("/invocations?proba=true", json={"instances": rows})
        assert refused.status_code == 400
        assert refused.json()["error"] == (
            f"{deployment.name}: a regression deployment predicts numbers, not class probabilities; "
            "predict without proba"
        )
        assert server.client.post("/invocations", json={"instances": rows}).status_code == 200
        assert len(logged(deployment, 3)) == 3  # only the answered request's rows
    finally:
        assert server.stop()[0] == 0


def test_health_version_metadata_and_metrics(served):
    server, deployment, data = served
    assert server.client.get("/ping").status_code == 200
    assert server.client.get("/health").json()["status"] == "ok"
    assert server.client.get("/version").json() == {"name": deployment.name, "version": "1.0.0"}
    metadata = server.client.get("/metadata").json()
    assert metadata["problem_type"] == "classification"
    assert [column["name"] for column in metadata["input_schema"]] == FEATURES
    assert set(metadata["training_metrics"]) >= {"accuracy", "f1_score"}
    server.client.post(
        "/invocations",
        json={"instances": json.loads(pd.read_csv(data)[FEATURES].iloc[:3].to_json(orient="records"))},
    )
    text = server.client.get("/metrics").text
    for name in (
        "easy_mlops_requests_total",
        "easy_mlops_request_seconds_bucket",
        "easy_mlops_scoring_seconds_bucket",
        "easy_mlops_batch_rows_bucket",
        "easy_mlops_in_flight_requests",
        "easy_mlops_predictions_total",
        f'easy_mlops_model_info{{name="{deployment.name}",version="1.0.0"}} 1.0',
    ):
        assert name in text, name
    assert 'le="0.0005"' in text  # sub-millisecond scoring has a bucket


def counted(client: httpx.Client, headers: dict | None = None) -> dict[tuple[str, str], float]:
    """``easy_mlops_requests_total`` read with Prometheus's own parser: (endpoint, code) -> count."""
    text = client.get("/metrics", headers=headers).text
    return {
        (sample.labels["endpoint"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "easy_mlops_requests"
        for sample in family.samples
        if sample.name == "easy_mlops_requests_total"
    }


def test_wrong_methods_and_unknown_paths_are_counted_too(served):
    server, _, _ = served
    before = counted(server.client)
    assert server.client.get("/invocations").status_code == 405
    assert server.client.post("/ping").status_code == 405
    assert server.client.get("/no-such-page").status_code == 404
    assert server.client.get("/another-made-up-path").status_code == 404
    after = counted(server.client)
    grew = {key: value - before.get(key, 0) for key, value in after.items() if value != before.get(key, 0)}
    # The scrape between is counted too; made-up paths share one label value.
    assert grew == {
        ("invocations", "405"): 1,
        ("ping", "405"): 1,
        ("other", "404"): 2,
        ("metrics", "200"): 1,
    }


# --------------------------------------------------------------------------- the OpenAPI document


def refs(node) -> list[str]:
    """Every ``$ref`` in a JSON document."""
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def schema_validator(document: dict, name: str) -> Draft202012Validator:
    """A JSON Schema validator for one of the document's schemas, its $refs resolving in the document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", **document})


def check_openapi(document: dict) -> None:
    """The fields OpenAPI 3.1 requires, every $ref resolving, every schema a valid JSON Schema."""
    assert document["openapi"].startswith("3.1.")
    assert isinstance(document["info"]["title"], str) and isinstance(document["info"]["version"], str)
    assert set(document["paths"]) == {
        "/invocations",
        "/ping",
        "/health",
        "/version",
        "/metadata",
        "/metrics",
        "/reload",
        "/openapi.json",
    }
    for path, item in document["paths"].items():
        assert path.startswith("/") and item, path
        for method, operation in item.items():
            assert method in ("get", "post"), (path, method)
            assert operation["responses"], (path, method)
            for code, response in operation["responses"].items():
                assert code.isdigit() and isinstance(response["description"], str), (path, code)
                for media_type in response.get("content", {}).values():
                    assert set(media_type) <= {"schema", "example", "examples", "encoding"}, (path, code)
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(document["components"]["securitySchemes"])
    for ref in refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], ref
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_the_openapi_document_describes_the_deployment_and_its_requests_are_answered(served):
    server, deployment, data = served
    response = server.client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    check_openapi(document)
    assert document["info"]["version"] == "1.0.0" and deployment.name in document["info"]["title"]
    assert "securitySchemes" not in document["components"]  # no token: nothing is guarded
    row = document["components"]["schemas"]["Row"]
    assert row["required"] == FEATURES
    kinds = {name: cell["type"][0] for name, cell in row["properties"].items()}
    assert kinds == {"x1": "number", "x2": "number", "count": "number", "city": "string"}

    # A row made from the schema alone, in each format it describes, is answered.
    made_up = {"number": 1.5, "string": "made-up-category"}
    record = {name: made_up[kind] for name, kind in kinds.items()}
    bodies = [
        {"dataframe_split": {"columns": list(record), "data": [list(record.values())]}},
        {"dataframe_records": [record]},
        {"instances": [record]},
        {"instances": [list(record.values())]},
        {"inputs": {name: [value] for name, value in record.items()}},
    ]
    invocation = schema_validator(document, "Invocation")
    answer = schema_validator(document, "Predictions")
    for body in bodies:
        invocation.validate(body)
        response = server.client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        answer.validate(response.json())
        assert len(response.json()["predictions"]) == 1
    header = document["paths"]["/invocations"]["post"]["requestBody"]["content"]["text/csv"]["example"]
    csv = header + ",".join(str(value) for value in record.values()) + "\n"
    response = server.client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1

    # What the schema refuses, the server refuses, with the error shape it documents.
    two_keys = {"instances": [record], "inputs": [record]}
    missing = {"dataframe_records": [{name: record[name] for name in FEATURES[1:]}]}
    for body, status in ((two_keys, 400), (missing, 422)):
        assert not invocation.is_valid(body)
        response = server.client.post("/invocations", json=body)
        assert response.status_code == status
        schema_validator(document, "Error").validate(response.json())
    for path, schema in (("/health", "Health"), ("/version", "Version"), ("/metadata", "Metadata")):
        schema_validator(document, schema).validate(server.client.get(path).json())


def test_a_body_over_the_limit_is_refused(tmp_path, served):
    _, deployment, data = served
    server = Server(tmp_path, str(deployment), "serve.max_body_mb=0.001")
    try:
        rows = json.loads(pd.read_csv(data)[FEATURES].to_json(orient="records"))
        response = server.client.post("/invocations", json={"instances": rows})
        assert response.status_code == 413 and "serve.max_body_mb" in response.json()["error"]
    finally:
        assert server.stop()[0] == 0


def test_a_deployment_that_fails_verification_is_refused_at_start(tmp_path, served):
    _, deployment, _ = served
    copy = tmp_path / deployment.name
    import shutil

    shutil.copytree(deployment, copy)
    with open(copy / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    result = subprocess.run(
        [CLI, "serve", str(copy), "--port", str(free_port())], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "model.joblib" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


# --------------------------------------------------------------------------- a failing model


def test_a_failure_inside_the_model_is_a_500_with_its_message(tmp_path, served):
    _, _, data = served
    (tmp_path / "fussy_model.py").write_text(FAILING_MODEL)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        deployment = train(
            tmp_path / "models",
            data,
            "trusted_modules=[fussy_model]",
            "trainer=logistic_regression",
            "trainer.model._target_=fussy_model.Fussy",
            *(f"~trainer.model.{key}" for key in ("C", "max_iter", "random_state")),
            "preprocessing.numeric.scaler=null",
        )
    finally:
        sys.path.remove(str(tmp_path))
    server = Server(tmp_path, str(deployment), env=env)
    try:
        fine = {"x1": 1.0, "x2": 0.5, "count": 3, "city": "lyon"}
        assert server.client.post("/invocations", json={"instances": [fine]}).status_code == 200
        response = server.client.post("/invocations", json={"instances": [dict(fine, x1=9.0)]})
        assert response.status_code == 500
        assert response.json() == {
            "error": "the model failed: RuntimeError: cannot score a first feature above 5"
        }
        assert server.client.post("/invocations", json={"instances": [fine]}).status_code == 200
        assert len(logged(deployment, 2)) == 2  # the failed request logged nothing
    finally:
        server.stop()


# --------------------------------------------------------------------------- access


def test_a_token_guards_everything_but_ping_and_health(tmp_path, served):
    _, deployment, data = served
    secret = "tok-" + os.urandom(8).hex()
    server = Server(tmp_path, str(deployment), "serve.token_env=SERVE_TOKEN", env={"SERVE_TOKEN": secret})
    row = json.loads(pd.read_csv(data)[FEATURES].iloc[:1].to_json(orient="records"))
    good = {"Authorization": f"Bearer {secret}"}
    try:
        for path in ("/metadata", "/metrics", "/openapi.json"):
            assert server.client.get(path).status_code == 401
            assert server.client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert server.client.get(path, headers=good).status_code == 200
        document = server.client.get("/openapi.json", headers=good).json()
        check_openapi(document)
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        guarded = {
            path
            for path, item in document["paths"].items()
            for operation in item.values()
            if "security" in operation
        }
        assert guarded == {"/invocations", "/metadata", "/metrics", "/reload", "/openapi.json"}
        for path, item in document["paths"].items():  # every documented call exists as documented
            for method in item:
                answered = server.client.request(method, path, headers=good, json={"instances": row})
                assert answered.status_code not in (404, 405), (method, path, answered.text)
        assert server.client.post("/invocations", json={"instances": row}).status_code == 401
        assert server.client.post("/invocations", json={"instances": row}, headers=good).status_code == 200
        assert server.client.post("/reload", headers=good).json()["reloaded"] is False  # a fixed deployment
        assert (
            server.client.get("/ping").status_code == 200 and server.client.get("/health").status_code == 200
        )
    finally:
        code, stderr = server.stop()
    assert code == 0
    assert secret not in server.banner + stderr
    for path in deployment.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_without_the_token_variable_the_server_does_not_start(tmp_path, served):
    _, deployment, _ = served
    result = subprocess.run(
        [CLI, "serve", str(deployment), "serve.token_env=NOT_SET_ANYWHERE"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: config key 'serve.token_env': the variable NOT_SET_ANYWHERE is not set or empty"
    )


# --------------------------------------------------------------------------- installed without the extra


def core_only_environment(root: Path) -> Path:
    """A virtualenv holding this checkout and its core dependencies only, as ``pip install
    make-mlops-easy`` (no extra) leaves one; returns its ``bin/``.

    The dependencies (``[project] dependencies`` and theirs, markers evaluated
    without an extra) are linked from this environment; the package is
    installed the way ``pip install -e`` installs it: a ``.pth`` to the
    sources, a dist-info and the console script.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    [site] = root.glob("lib/python*/site-packages")
    wanted, linked = list(project["dependencies"]), set()
    while wanted:
        requirement = Requirement(wanted.pop())
        name = canonicalize_name(requirement.name)
        if name in linked or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        linked.add(name)
        distribution = metadata.distribution(name)
        wanted += distribution.requires or []
        for top in {file.parts[0] for file in distribution.files} - {"..", "__pycache__"}:
            if not (site / top).exists():
                (site / top).symlink_to(distribution.locate_file(top))
    assert not linked & {"starlette", "uvicorn", "prometheus-client", "orjson"}, linked
    (site / "make_mlops_easy.pth").write_text(f"{ROOT / 'src'}\n")
    info = site / f"make_mlops_easy-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
        + "".join(f"Requires-Dist: {requirement}\n" for requirement in project["dependencies"])
    )
    scripts = project["scripts"]
    (info / "entry_points.txt").write_text(
        "[console_scripts]\n" + "".join(f"{name} = {target}\n" for name, target in scripts.items())
    )
    for name, target in scripts.items():
        module, function = target.split(":")
        script = root / "bin" / name
        script.write_text(
            f"#!{root / 'bin' / 'python'}\nimport sys\nfrom {module} import {function}\n"
            f"if __name__ == '__main__':\n    sys.exit({function}())\n"
        )
        script.chmod(0o755)
    return root / "bin"


def test_serve_without_its_extra_is_one_line_naming_it(tmp_path, served):
    _, deployment, _ = served
    bin_dir = core_only_environment(tmp_path / "venv")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(bin_dir / "make-mlops-easy"), *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )

    assert subprocess.run([bin_dir / "python", "-c", "import starlette"], env=env).returncode == 1
    status = run("status", str(deployment), "--json")  # the install works without the extra
    assert status.returncode == 0, status.stderr
    for args in ([], ["--workers", "2"]):
        result = run("serve", str(deployment), "--port", str(free_port()), *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr == (
            "error: serving needs its extra (starlette, uvicorn, prometheus_client, orjson not installed): "
            "pip install 'make-mlops-easy[serve]'\n"
        )
        assert result.stdout == ""


# --------------------------------------------------------------------------- load, workers, reload, stop


def hammer(url: str, rows: list[dict], requests: int, answered: list, failures: list) -> None:
    """One client sending ``requests`` single-row requests; what it got back is recorded."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for number in range(requests):
            try:
                response = client.post("/invocations", json={"instances": [rows[number % len(rows)]]})
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code == 200:
                answered.append(response.json()["predictions"][0])
            else:
                failures.append(f"{response.status_code}: {response.text}")


def clients(url: str, data: Path, count: int, requests: int) -> tuple[list[threading.Thread], list, list]:
    rows = json.loads(pd.read_csv(data)[FEATURES].to_json(orient="records"))
    answered: list = []
    failures: list = []
    threads = [
        threading.Thread(target=hammer, args=(url, rows, requests, answered, failures)) for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads, answered, failures


def test_two_workers_log_exactly_every_served_prediction(tmp_path, served, cli):
    _, _, data = served
    deployment = train(tmp_path / "models", data)
    server = Server(tmp_path, str(deployment), "--workers", "2")
    try:
        threads, answered, failures = clients(server.url, data, count=4, requests=500)
        for thread in threads:
            thread.join()
        assert failures == [] and len(answered) == 2000
        records = logged(deployment, 2000)
        assert len(records) == 2000
        batches = server.client.get("/metrics").text
        assert "easy_mlops_batch_rows_count" in batches
    finally:
        assert server.stop()[0] == 0
    status = json.loads(cli("status", deployment, "--json").stdout)
    assert status["predictions"]["total_predictions"] == 2000
    assert status["drift"]["rows"] == 2000  # both workers' input counts, exact too
    assert sorted(r["prediction"] for r in records) == sorted(answered)


def test_workers_of_a_killed_server_stop_and_keep_what_they_answered(tmp_path, served, cli):
    _, _, data = served
    deployment = train(tmp_path / "models", data)
    server = Server(tmp_path, str(deployment), "--workers", "2")
    threads, answered, failures = clients(server.url, data, count=4, requests=50)
    for thread in threads:
        thread.join()
    assert failures == [] and len(answered) == 200

    os.kill(server.process.pid, signal.SIGKILL)  # the server process alone: nothing forwarded

    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        except OSError:
            break  # no worker listens any more
        assert time.monotonic() < deadline, "a worker of the killed server is still answering"
        time.sleep(0.2)
    server.process.wait(10)
    status = json.loads(cli("status", deployment, "--json").stdout)
    assert status["predictions"]["total_predictions"] == 200


def test_reload_under_load_swaps_the_model_without_a_failed_request(tmp_path, served):
    _, _, data = served
    train(tmp_path / "models", data, "deployment.version=1.0.0")
    server = Server(tmp_path, "latest", "--workers", "2", "deployment.output_dir=models")
    try:
        threads, answered, failures = clients(server.url, data, count=3, requests=150)
        time.sleep(0.5)
        newer = train(tmp_path / "models", data, "deployment.version=2.0.0")
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while server.client.get("/version").json()["version"] != "2.0.0" and time.monotonic() < deadline:
            time.sleep(0.1)
        for thread in threads:
            thread.join()
        assert failures == [] and len(answered) == 450
        # Both workers moved (any of them may answer): ask a few times.
        assert {server.client.get("/version").json()["version"] for _ in range(10)} == {"2.0.0"}
        metrics = server.client.get("/metrics").text
        assert f'easy_mlops_model_info{{name="{newer.name}",version="2.0.0"}} 1.0' in metrics
        after = server.client.post(
            "/invocations",
            json={"instances": json.loads(pd.read_csv(data)[FEATURES].iloc[:1].to_json(orient="records"))},
        )
        assert after.status_code == 200
    finally:
        assert server.stop()[0] == 0
    assert len(logged(newer, 1)) >= 1  # what the new model answered is logged in its own deployment


def models_served(client: httpx.Client, headers: dict) -> dict[str, float]:
    """``easy_mlops_model_info`` by version: 1 while any worker serves that version (livemax)."""
    text = client.get("/metrics", headers=headers).text
    return {
        sample.labels["version"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "easy_mlops_model_info"
        for sample in family.samples
    }


def test_every_worker_reloads_and_the_server_says_so_once(tmp_path, served):
    _, _, data = served
    train(tmp_path / "models", data, "deployment.version=1.0.0")
    secret = "tok-" + os.urandom(8).hex()
    good = {"Authorization": f"Bearer {secret}"}
    server = Server(
        tmp_path,
        "latest",
        "--workers",
        "2",
        "deployment.output_dir=models",
        "serve.token_env=SERVE_TOKEN",
        env={"SERVE_TOKEN": secret},
    )

    def all_workers_serve(version: str) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            served_now = {name for name, value in models_served(server.client, good).items() if value == 1}
            if served_now == {version}:
                return True
            time.sleep(0.1)
        return False

    try:
        second = train(tmp_path / "models", data, "deployment.version=2.0.0")
        server.process.send_signal(signal.SIGHUP)
        assert all_workers_serve("2.0.0")
        third = train(tmp_path / "models", data, "deployment.version=3.0.0")
        answer = server.client.post("/reload", headers=good).json()  # reaches one of the two workers
        assert answer == {"reloaded": True, "name": third.name, "version": "3.0.0"}
        assert all_workers_serve("3.0.0")  # the other one followed
        assert server.client.get("/openapi.json", headers=good).json()["info"]["version"] == "3.0.0"
        broken = train(tmp_path / "models", data, "deployment.version=4.0.0")
        with open(broken / "model.joblib", "ab") as handle:
            handle.write(b"tampered")
        server.process.send_signal(signal.SIGHUP)  # both workers refuse it ...
        refused = server.client.post("/reload", headers=good).json()  # ... and this one once more
        assert refused == {"reloaded": False, "name": third.name, "version": "3.0.0"}
        assert all_workers_serve("3.0.0")
    finally:
        code, stderr = server.stop()
    assert code == 0, stderr
    assert server.printed() == [
        f"reloaded: now serving {second.name} (version 2.0.0)\n",
        f"reloaded: now serving {third.name} (version 3.0.0)\n",
    ]
    warnings = stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: not reloading models/{broken.name}: "), (
        stderr
    )
    assert "model.joblib" in warnings[0]


def test_sigterm_during_load_finishes_answers_and_logs_every_one_whole(tmp_path, served):
    _, _, data = served
    deployment = train(tmp_path / "models", data)
    server = Server(tmp_path, str(deployment), "--workers", "2")
    threads, answered, failures = clients(server.url, data, count=4, requests=400)
    time.sleep(1.0)
    code, stderr = server.stop(signal.SIGTERM)
    for thread in threads:
        thread.join()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    lines = (deployment / "logs" / "predictions_log.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""  # the file ends with a whole line
    records = [json.loads(line) for line in lines[:-1]]  # every line parses
    assert len(answered) > 0 and len(records) == len(answered)  # every answered request, and no other
    assert all(
        failure.startswith(("ConnectError", "RemoteProtocolError", "ReadError")) for failure in failures
    )
