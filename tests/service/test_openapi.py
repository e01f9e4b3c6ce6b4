"""/docs must be a usable reference: every parameter with its values, every error response."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from service.app import create_app
from service.imaging.options import PARAMETERS
from tests.apprunner import make_settings


def test_removal_operation_documents_parameters_body_and_errors() -> None:
    spec = create_app(make_settings(), registry=CollectorRegistry()).openapi()
    op = spec["paths"]["/remove-background"]["post"]
    query = {p["name"]: p for p in op["parameters"]}
    # Every parameter the endpoint reads is documented, and nothing it would refuse as unknown.
    assert set(query) == set(PARAMETERS)
    assert all(p.get("description") for p in query.values())
    assert all("examples" in p or "example" in p or "schema" in p for p in query.values())
    body = op["requestBody"]["content"]
    assert "image" in body["multipart/form-data"]["schema"]["properties"]
    assert "image/*" in body
    form = body["multipart/form-data"]["schema"]["properties"]
    assert form["output"]["enum"] == ["rgba", "mask", "composite", "zip"]
    for status in ("200", "400", "401", "413", "415", "429", "503"):
        assert status in op["responses"], status
    examples = op["responses"]["400"]["content"]["application/json"]["examples"]
    assert {"invalid_image", "invalid_parameter", "missing_image"} <= set(examples)
    assert "/v1.0/removebg" in spec["paths"]
