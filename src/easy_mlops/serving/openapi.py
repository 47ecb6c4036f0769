"""The server's OpenAPI 3.1 document, built from the deployment it serves (``GET /openapi.json``).

Clients generate code and check requests against it, so it says what the
server really does: the four JSON request formats and CSV of
``/invocations`` (from :mod:`easy_mlops.serving.requests`), one property per
column of the deployment's input schema (numeric as ``number``, categorical
as ``string``, a flag as a boolean or its word, a date as ISO text; any may be
``null``: missing values are imputed), the
answers ``{"predictions": [...]}`` and ``{"error": "..."}``, and which calls
need the bearer token. A reload changes the schema with the deployment.
"""

from typing import Any

from easy_mlops.deployment.loading import Deployment
from easy_mlops.serving.requests import JSON_KEYS

OPENAPI_VERSION = "3.1.0"
# Per column kind: the JSON types a cell may have (besides null).
JSON_TYPES = {
    "numeric": ["number"],
    "categorical": ["string"],
    "boolean": ["boolean", "string", "number"],  # true, "yes", 1: what the preprocessor reads as a flag
    "date": ["string"],
}
REF = "#/components/schemas/"


def openapi_document(deployment: Deployment, secured: bool) -> dict[str, Any]:
    """The document for ``deployment``; ``secured`` when ``serve.token_env`` guards the calls."""
    columns = deployment.input_schema or []
    regression = deployment.metadata.get("problem_type") == "regression"
    target = deployment.metadata.get("target_column")

    def call(summary: str, responses: dict[str, Any], guarded: bool = True, **more: Any) -> dict[str, Any]:
        operation = {"summary": summary, **more, "responses": responses}
        if guarded and secured:
            operation["security"] = [{"bearer": []}]
            operation["responses"] = {**responses, "401": _error("missing or wrong bearer token")}
        return operation

    reload_responses = {"200": _json("whether a newer deployment was taken, and what is served", "Reload")}
    if not secured:
        reload_responses["404"] = _error("without serve.token_env there is no POST /reload: send SIGHUP")
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"make-mlops-easy serve: {deployment.name}",
            "version": deployment.version or "0",
            "description": (
                f"Predictions of deployment {deployment.name} "
                f"({deployment.metadata.get('problem_type', 'unknown problem type')}"
                + (f" of '{target}'" if target else "")
                + "), in MLflow's scoring protocol."
            ),
        },
        "paths": {
            "/invocations": {
                "post": call(
                    "One prediction per row, in order",
                    {
                        "200": _json("one prediction per row, in the order of the rows", "Predictions"),
                        "400": _error("malformed JSON or CSV, or not exactly one of the four formats"),
                        "413": _error("a body over serve.max_body_mb"),
                        "415": _error("a content type other than application/json or text/csv"),
                        "422": _error("missing or unusable columns"),
                        "500": _error("a failure inside the model"),
                        "503": _error("not scored within serve.timeout_s"),
                    },
                    parameters=[
                        {
                            "name": "proba",
                            "in": "query",
                            "required": False,
                            "description": "true: also the class probabilities (a classifier's), "
                            'as "params": {"proba": true} in a JSON body says',
                            "schema": {"type": "boolean", "default": False},
                        }
                    ],
                    requestBody={
                        "required": True,
                        "description": (
                            "Rows with the deployment's columns: extra columns are dropped, "
                            "the columns reordered, a missing one is a 422."
                        ),
                        "content": {
                            "application/json": {"schema": {"$ref": REF + "Invocation"}},
                            "text/csv": {
                                "schema": {
                                    "type": "string",
                                    "description": "a header row naming the columns, then one line per row",
                                },
                                "example": ",".join(column["name"] for column in columns) + "\n",
                            },
                        },
                    },
                )
            },
            "/ping": {
                "get": call(
                    "Answers once the model is loaded (load balancers' health check)",
                    {
                        "200": {
                            "description": "loaded",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                    guarded=False,
                )
            },
            "/health": {"get": call("The server is up", {"200": _json("up", "Health")}, guarded=False)},
            "/version": {
                "get": call(
                    "The deployment being served",
                    {"200": _json("name and version", "Version")},
                    guarded=False,
                )
            },
            "/metadata": {
                "get": call(
                    "The deployment's metadata",
                    {"200": _json("name, version, problem type, input schema, training metrics", "Metadata")},
                )
            },
            "/metrics": {
                "get": call(
                    "Prometheus metrics of every worker, prefix easy_mlops_",
                    {
                        "200": {
                            "description": "the Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                )
            },
            "/reload": {"post": call("Take a newer deployment published as latest", reload_responses)},
            "/openapi.json": {
                "get": call("This document", {"200": {"description": "OpenAPI 3.1", "content": _any_json()}})
            },
        },
        "components": {"schemas": _schemas(columns, regression)},
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "the value of $serve.token_env"}
        }
    return document


def cell_schema(kind: str) -> dict[str, Any]:
    """What one cell of a column of this kind may hold."""
    schema: dict[str, Any] = {"type": [*JSON_TYPES.get(kind, ["string"]), "null"]}
    if kind == "date":
        schema["description"] = "an ISO 8601 date or timestamp, e.g. 2024-01-31 or 2024-01-31T09:30:00Z"
    return schema


def _schemas(columns: list[dict[str, str]], regression: bool) -> dict[str, Any]:
    cells = {column["name"]: cell_schema(column["kind"]) for column in columns}
    names = list(cells)
    rows = {
        "anyOf": [
            {"type": "array", "minItems": 1, "items": {"$ref": REF + "Row"}},
            {"type": "array", "minItems": 1, "items": {"$ref": REF + "PositionalRow"}},
            {"$ref": REF + "Columns"},
        ]
    }
    params = {
        "type": "object",
        "description": "MLflow's scoring parameters; proba: true adds the class probabilities",
        "properties": {"proba": {"type": "boolean"}},
    }
    formats = {
        "dataframe_split": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "minItems": 1, "items": {"type": "array"}},
                "index": {"type": "array"},
            },
            "description": "columns (default: the input schema's order) and rows of values",
        },
        "dataframe_records": {"type": "array", "minItems": 1, "items": {"$ref": REF + "Row"}},
        "instances": rows,
        "inputs": rows,
    }
    return {
        "Row": {
            "type": "object",
            "description": "One row: the deployment's columns (others are dropped)",
            "properties": cells,
            "required": names,
        },
        "PositionalRow": {
            "type": "array",
            "description": f"One row's values in the input schema's order: {', '.join(names)}",
            "prefixItems": list(cells.values()),
            "minItems": len(names),
            "maxItems": len(names),
        },
        "Columns": {
            "type": "object",
            "description": "One list of values per column",
            "properties": {name: {"type": "array", "items": cell} for name, cell in cells.items()},
            "required": names,
        },
        "Invocation": {
            "description": "Exactly one of " + ", ".join(JSON_KEYS) + ', and optionally "params"',
            "oneOf": [
                {"type": "object", "required": [key], "properties": {key: formats[key], "params": params}}
                for key in JSON_KEYS
            ],
        },
        "Predictions": {
            "type": "object",
            "required": ["predictions"],
            "properties": {
                "predictions": {
                    "type": "array",
                    "items": {"type": "number"} if regression else {"description": "the predicted class"},
                },
                "classes": {"type": "array", "description": "with proba: the classes, in column order"},
                "probabilities": {
                    "type": "array",
                    "description": "with proba: one row per prediction, one probability per class",
                    "items": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
                },
            },
        },
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Health": _object(status={"type": "string", "const": "ok"}, deployment={"type": "string"}),
        "Version": _object(name={"type": "string"}, version={"type": "string"}),
        "Metadata": _object(
            name={"type": "string"},
            version={"type": "string"},
            problem_type={"type": ["string", "null"]},
            target_column={"type": ["string", "null"]},
            input_schema={"type": ["array", "null"]},
            training_metrics={"type": "object"},
            created_at={"type": ["string", "null"]},
        ),
        "Reload": _object(reloaded={"type": "boolean"}, name={"type": "string"}, version={"type": "string"}),
    }


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF + schema}}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description + ' ({"error": "..."}, one line)', "Error")


def _any_json() -> dict[str, Any]:
    return {"application/json": {"schema": {"type": "object"}}}
