"""The OpenAPI 3.1 document of the server (``/openapi.json``) and a page that shows it (``/docs``).

Written by hand from the routes, with the served models' features in the
request schemas, so that it states exactly what the server accepts.
"""

from __future__ import annotations

import html
from typing import Any

from .. import __version__
from ._model import ServedModel

__all__ = ["docs_page", "openapi"]

_JSON_TYPES = {"FP64": "number", "FP32": "number", "BOOL": "boolean", "BYTES": "string"}


def _value_schema(arrow_type: str, nullable: bool) -> dict[str, Any]:
    if arrow_type in ("double", "float", "halffloat") or arrow_type.startswith("decimal"):
        kind = "number"
    elif "int" in arrow_type:
        kind = "integer"
    elif arrow_type == "bool":
        kind = "boolean"
    else:
        kind = "string"
    return {"type": [kind, "null"] if nullable else kind}


def _record(model: ServedModel) -> dict[str, Any]:
    fields = model.bundle.input_signature
    return {
        "type": "object",
        "properties": {
            f["name"]: _value_schema(f["type"], bool(f.get("nullable", True))) for f in fields
        },
        "required": [f["name"] for f in fields],
        "additionalProperties": False,
    }


def _output(model: ServedModel) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for out in model.outputs:
        if out["name"] == "probabilities":
            props["probabilities"] = {"type": "array", "items": {"type": ["number", "null"]}}
        elif out["type"] == "int64":
            props[out["name"]] = {"type": ["integer", "null"]}
        else:
            props[out["name"]] = {"type": ["number", "null"]}
    return {"type": "object", "properties": props}


_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_MLFLOW_ERROR = {
    "type": "object",
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error_code", "message"],
}


def _errors(schema: dict[str, Any], codes: tuple[int, ...]) -> dict[str, Any]:
    return {
        str(c): {"description": "refused", "content": {"application/json": {"schema": schema}}}
        for c in codes
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi(models: list[ServedModel]) -> dict[str, Any]:
    """The OpenAPI document for these models (the first one answers ``/predict``)."""
    first = models[0]
    record = _record(first)
    output = _output(first)
    rows = {"type": "array", "items": {"type": "array"}}
    codes = (400, 404, 413, 415, 503, 504)
    mlflow_body = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": rows,
                        },
                        "required": ["data"],
                    }
                },
                "required": ["dataframe_split"],
            },
            {
                "type": "object",
                "properties": {"dataframe_records": {"type": "array", "items": record}},
                "required": ["dataframe_records"],
            },
            {
                "type": "object",
                "properties": {"instances": {"type": "array"}},
                "required": ["instances"],
            },
            {
                "type": "object",
                "properties": {"inputs": {"type": ["array", "object"]}},
                "required": ["inputs"],
            },
        ]
    }
    tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string"},
            "data": {"type": "array"},
            "parameters": {"type": "object"},
        },
        "required": ["name", "shape", "datatype"],
    }
    infer_request = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": tensor},
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
        "required": ["inputs"],
    }
    infer_response = {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": tensor},
        },
        "required": ["model_name", "model_version", "outputs"],
    }
    name_param = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [m.name for m in models]},
        }
    ]
    version_param = [
        *name_param,
        {
            "name": "version",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": sorted({m.version for m in models})},
        },
    ]
    infer_op = {
        "summary": "Open Inference Protocol V2 inference (JSON or binary tensors)",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": infer_request}},
        },
        "responses": {"200": _json(infer_response), **_errors(_ERROR, codes)},
    }
    predictions = {
        "type": "object",
        "properties": {"predictions": {"type": "array", "items": output}},
        "required": ["predictions"],
    }
    plain = {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "model_version": {"type": "string"},
            "predictions": {"type": "array", "items": output},
        },
        "required": ["model", "model_version", "predictions"],
    }
    text = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    plain_op = {
        "summary": "Predict JSON records",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"records": {"type": "array", "items": record}},
                        "required": ["records"],
                        "additionalProperties": False,
                    }
                }
            },
        },
        "responses": {"200": _json(plain), **_errors(_ERROR, codes)},
    }
    mlflow_op = {
        "summary": "MLflow scoring protocol",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": mlflow_body},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {"200": _json(predictions), **_errors(_MLFLOW_ERROR, codes)},
    }
    meta = {"type": "object"}
    paths: dict[str, Any] = {
        "/v2": {"get": {"summary": "Server metadata", "responses": {"200": _json(meta)}}},
        "/v2/health/live": {"get": {"summary": "Liveness", "responses": {"200": _json(meta)}}},
        "/v2/health/ready": {
            "get": {
                "summary": "Readiness",
                "responses": {"200": _json(meta), "503": _json(meta, "not ready")},
            }
        },
        "/v2/models/{name}": {
            "get": {
                "summary": "Model metadata",
                "parameters": name_param,
                "responses": {"200": _json(meta), **_errors(_ERROR, (404,))},
            }
        },
        "/v2/models/{name}/versions/{version}": {
            "get": {
                "summary": "Model version metadata",
                "parameters": version_param,
                "responses": {"200": _json(meta), **_errors(_ERROR, (404,))},
            }
        },
        "/v2/models/{name}/ready": {
            "get": {
                "summary": "Model readiness",
                "parameters": name_param,
                "responses": {"200": _json(meta), **_errors(_ERROR, (404, 503))},
            }
        },
        "/v2/models/{name}/versions/{version}/ready": {
            "get": {
                "summary": "Model version readiness",
                "parameters": version_param,
                "responses": {"200": _json(meta), **_errors(_ERROR, (404, 503))},
            }
        },
        "/v2/models/{name}/infer": {"post": {**infer_op, "parameters": name_param}},
        "/v2/models/{name}/versions/{version}/infer": {
            "post": {**infer_op, "parameters": version_param}
        },
        "/ping": {"get": {"summary": "MLflow health", "responses": {"200": text}}},
        "/health": {"get": {"summary": "MLflow health", "responses": {"200": text}}},
        "/version": {"get": {"summary": "Shipyard version", "responses": {"200": text}}},
        "/invocations": {"post": mlflow_op},
        "/models/{name}/invocations": {"post": {**mlflow_op, "parameters": name_param}},
        "/predict": {"post": plain_op},
        "/models/{name}/predict": {"post": {**plain_op, "parameters": name_param}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": text}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json(meta)}}},
        "/docs": {
            "get": {
                "summary": "This document as a page",
                "responses": {
                    "200": {"description": "OK", "content": {"text/html": {"schema": {}}}}
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Shipyard model server: {', '.join(m.name for m in models)}",
            "version": __version__,
        },
        "paths": paths,
    }


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained page listing the operations (no scripts, nothing fetched)."""
    rows = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(op.get('summary', ''))}</td></tr>"
            )
    title = html.escape(document["info"]["title"])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>The full document: <a href='/openapi.json'>/openapi.json</a>;"
        " the protocols and their rules: docs/serving.md.</p>"
        f"<table><tr><th>method</th><th>path</th><th>what</th></tr>{''.join(rows)}</table>"
        "</body></html>"
    )
