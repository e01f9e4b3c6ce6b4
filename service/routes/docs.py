"""OpenAPI descriptions shared by the removal routes, so /docs is a usable reference."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from service.errors import STATUS, ErrorKind

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
}


BgColorQuery = Annotated[
    str | None, Query(description="hex colour or CSS colour name for composite", examples=["#00ff00"])
]
EngineQuery = Annotated[str | None, Query(description="auto | modnet | grabcut", examples=["auto"])]


def error_responses(*kinds: ErrorKind) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error kinds, grouped by status, one example per kind."""
    by_status: dict[int, list[ErrorKind]] = {}
    for kind in kinds:
        by_status.setdefault(STATUS[kind], []).append(kind)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        responses[status] = {
            "description": " or ".join(k.value for k in group),
            "content": {
                "application/json": {
                    "schema": _ERROR_SCHEMA,
                    "examples": {
                        k.value: {"value": {"error": {"code": k.value, "message": "..."}}} for k in group
                    },
                }
            },
        }
    return responses


IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The result image (or a ZIP of color.jpg + alpha.png). Headers: X-Engine, X-Model, "
        "X-Processing-Time-Ms, X-Fallback-Reason (only when MODNet failed and GrabCut served).",
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/webp": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def upload_body(field: str, extra_fields: dict[str, Any], raw_type: str = "image/*") -> dict[str, Any]:
    """The request body: a multipart form with the file (and optional parameter fields), or the raw
    file as the body (`raw_type`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [field],
                        "properties": {field: {"type": "string", "format": "binary"}, **extra_fields},
                    }
                },
                raw_type: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
