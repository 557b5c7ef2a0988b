"""Write the Swagger 2.0 documents in spec/ from the per-version data in spec/versions.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
OPTIONS = ["requeue", "terminate", "taskcompletion", "retaineddata"]


def _option_schema(version: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "description": "When to reimage the node and what to do with running tasks; default requeue.",
        "enum": OPTIONS,
    }
    if version["option_enum_open"]:
        schema["x-ms-enum"] = {"name": "BatchNodeReimageOption", "modelAsString": True}
        schema["x-batch-open-enum"] = True
    return schema


def _header_params(version: dict[str, Any]) -> list[dict[str, Any]]:
    crid: dict[str, Any] = {"name": "client-request-id", "in": "header", "required": False, "type": "string"}
    if version["client_request_id_format"] == "uuid":
        crid["format"] = "uuid"
    date_format = "date-time-rfc1123" if version["ocp_date_format"] == "rfc1123" else "date-time-rfc7231"
    return [
        crid,
        {"name": "return-client-request-id", "in": "header", "required": False, "type": "boolean",
         "default": False},
        {"name": "ocp-date", "in": "header", "required": False, "type": "string", "format": date_format},
    ]


def _timeout_param(version: dict[str, Any]) -> dict[str, Any]:
    param: dict[str, Any] = {"name": version["timeout_param"], "in": "query", "required": False,
                             "type": "integer", "format": "int32",
                             "description": "Maximum server processing time in seconds."}
    if version["timeout_default"] is not None:
        param["default"] = version["timeout_default"]
    return param


def build_document(version: dict[str, Any]) -> dict[str, Any]:
    """Return our Swagger 2.0 description of Compute Node - Reimage for one api-version."""
    vid = version["id"]
    description = "Reinstalls the operating system on the node; only idle or running nodes."
    if not version["vm_pool_allowed"]:
        description += " Only pools created with cloudServiceConfiguration."
    return {
        "swagger": "2.0",
        "info": {"title": "Azure Batch: Compute Node - Reimage (batch-conformance)", "version": vid,
                 "description": "Written by batch-conformance from the facts in its README; not the "
                                "Microsoft swagger."},
        "host": "localhost",
        "basePath": "/",
        "schemes": ["http", "https"],
        "consumes": ["application/json; odata=minimalmetadata"],
        "produces": ["application/json"],
        "x-batch-version": version,
        "paths": {
            "/pools/{poolId}/nodes/{nodeId}/reimage": {
                "post": {
                    "operationId": "ComputeNode_Reimage",
                    "description": description,
                    "x-ms-request-id": "request-id",
                    "parameters": [
                        {"name": "poolId", "in": "path", "required": True, "type": "string",
                         "pattern": ID_PATTERN},
                        {"name": "nodeId", "in": "path", "required": True, "type": "string",
                         "pattern": ID_PATTERN},
                        {"name": "nodeReimageParameter", "in": "body", "required": False,
                         "schema": {"$ref": "#/definitions/NodeReimageParameter"}},
                        _timeout_param(version),
                        *_header_params(version),
                        {"name": "api-version", "in": "query", "required": True, "type": "string",
                         "enum": [vid]},
                    ],
                    "responses": {
                        "202": {
                            "description": "Accepted; empty body. The live service sends no ETag or "
                                           "Last-Modified on node actions.",
                            "headers": {
                                "client-request-id": {"type": "string"},
                                "request-id": {"type": "string", "format": "uuid"},
                                "ETag": {"type": "string"},
                                "Last-Modified": {"type": "string", "format": "date-time-rfc1123"},
                                "DataServiceId": {"type": "string"},
                            },
                            "x-required-headers": ["request-id", "DataServiceId"],
                        },
                        "default": {"description": "The error from the Batch service.",
                                    "schema": {"$ref": "#/definitions/BatchError"}},
                    },
                }
            }
        },
        "definitions": {
            "NodeReimageParameter": {
                "type": "object",
                "properties": {"nodeReimageOption": _option_schema(version)},
            },
            "BatchError": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "odata.metadata": {"type": "string"},
                    "code": {"type": "string", "minLength": 1},
                    "message": {"$ref": "#/definitions/ErrorMessage"},
                    "values": {"type": "array", "items": {"$ref": "#/definitions/BatchErrorDetail"}},
                },
            },
            "ErrorMessage": {
                "type": "object",
                "required": ["lang", "value"],
                "properties": {"lang": {"type": "string"}, "value": {"type": "string"}},
            },
            "BatchErrorDetail": {
                "type": "object",
                "required": ["key"],
                "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    }


def write_documents(spec_dir: Path) -> list[Path]:
    """Regenerate spec/reimage-<version>.json for every version in spec/versions.json."""
    data = json.loads((spec_dir / "versions.json").read_text())
    written = []
    for version in data["versions"]:
        path = spec_dir / f"reimage-{version['id']}.json"
        path.write_text(json.dumps(build_document(version), indent=1) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_documents(Path(__file__).resolve().parent.parent / "spec"):
        print(p)
