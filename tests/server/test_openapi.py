"""`serve`'s OpenAPI document (GET /openapi.json) describes every body, and the app keeps to it:
schemathesis sends generated bodies, headers and methods (schema-valid and not) to the app in
process, with tiny models; no 5xx, every response as documented."""

from __future__ import annotations

import json
import warnings

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from bertcli.server import Service, create_app  # noqa: E402
from bertcli.server_schema import ASK_FIELDS, SUMMARIZE_FIELDS, AskRequest, SummarizeRequest  # noqa: E402

TOKEN = "schema-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection,
          ignored_auth, unsupported_method]


@pytest.fixture(scope="module")
def app(tiny_qa_dir, tiny_encoder_dir):
    service = Service(model=str(tiny_encoder_dir), reader=str(tiny_qa_dir), device="cpu", offline=True,
                      max_bytes=20_000)
    return create_app(service, token=TOKEN)


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)  # positive and negative cases


def test_the_document_is_served_and_names_every_operation(app):
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 401  # behind the token, as every path
        document = client.get("/openapi.json", headers=AUTH).json()
    assert set(document["paths"]) == {"/health", "/summarize", "/ask"}
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    ask = document["paths"]["/ask"]["post"]
    assert ask["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AskRequest"}
    assert {"200", "401", "413", "422", "429", "503"} <= set(ask["responses"])
    assert document["components"]["schemas"]["ErrorBody"]["properties"]["error"]["type"] == "string"
    assert json.dumps(document)  # plain JSON all the way down


def test_request_models_name_the_fields_the_server_checks():
    assert SUMMARIZE_FIELDS == {"text", "url", "num_sentences", "strategy"}
    assert ASK_FIELDS == {"text", "url", "question", "questions", "top_k", "min_score", "always_answer"}
    assert SummarizeRequest.model_json_schema()["additionalProperties"] is False
    assert AskRequest.model_json_schema()["additionalProperties"] is False


OPERATIONS = [("/health", "GET"), ("/summarize", "POST"), ("/ask", "POST")]


def test_the_fuzzed_operations_are_all_of_them(api_schema):
    found = {(op.ok().path, op.ok().method.upper()) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


# (schemathesis's own pytest loader does not run under pytest 9: each operation's strategy here)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("path, method", OPERATIONS)
def test_every_operation_keeps_to_its_schema(api_schema, path, method, mode):
    """Generated bodies, headers and methods: never a 5xx, every status documented, every body
    as documented; schema-invalid bodies refused, a missing token refused. Not checked:
    that every schema-valid body is accepted (a valid string can still be an empty document)."""

    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    check()
