"""The API's OpenAPI document (GET /openapi.json): every request and response body as a
pydantic model. The bodies are still checked by hand (bertcli.server_requests), so that each
refusal keeps its one-line message; the field names come from here, so the two cannot drift."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from .summarize.strategies import STRATEGIES

JsonDict = dict[str, Any]
_ONE_OF: JsonDict = {"oneOf": [{"required": ["text"]}, {"required": ["url"]}]}
_ASK_ONE_OF: JsonDict = {"allOf": [_ONE_OF, {"oneOf": [{"required": ["question"]}, {"required": ["questions"]}]}]}


_TEXT = ('The document, read as `bertcli summarize -` reads stdin (its source is "-"; HTML and '
         "Markdown are converted). Not empty, no NUL characters.")
_URL = ("An http(s) URL to fetch instead of text (the server needs --allow-urls; only public "
        "addresses are fetched).")


def _no_default(schema: JsonDict) -> None:
    schema.pop("default", None)  # an optional field that, when given, must not be null


def _optional(description: str) -> Any:
    """`str | SkipJsonSchema[None] = _optional(...)`: may be left out, but null is refused."""
    return Field(None, json_schema_extra=_no_default, description=description)


class SummarizeRequest(BaseModel):
    """POST /summarize: a document and how to summarize it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_OF)
    text: str | SkipJsonSchema[None] = _optional(_TEXT)
    url: str | SkipJsonSchema[None] = _optional(_URL)
    num_sentences: int | None = Field(None, ge=1, description="Sentences to pick (default 3).")
    strategy: str = Field("learned", json_schema_extra={"enum": list(STRATEGIES)})


class AskRequest(BaseModel):
    """POST /ask: a document and one question ("question") or several ("questions")."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ASK_ONE_OF)
    text: str | SkipJsonSchema[None] = _optional(_TEXT)
    url: str | SkipJsonSchema[None] = _optional(_URL)
    question: str | SkipJsonSchema[None] = _optional(
        "One question: not blank, at most what the reader takes (about 250 tokens).")
    questions: Annotated[list[str], Field(min_length=1)] | SkipJsonSchema[None] = _optional(
        "Several questions: the answer is a list.")
    top_k: int | None = Field(None, ge=1, description="Answers per question (default 1).")
    min_score: float | None = Field(None, ge=0, le=1, description="Abstain below this probability of being right.")
    always_answer: bool = Field(False, description="Never abstain.")


SUMMARIZE_FIELDS = set(SummarizeRequest.model_fields)
ASK_FIELDS = set(AskRequest.model_fields)


class ErrorBody(BaseModel):
    """Every refusal and failure: one line."""

    error: str = Field(pattern=r"^[^\n]*$")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    reader: str | None = Field(description="The reader loaded for /ask (null before it is loaded).")


class Sentence(BaseModel):
    index: int = Field(ge=0, description="The sentence's place among the document's candidates.")
    start: int = Field(ge=0, description="Offset into the text as read.")
    end: int = Field(ge=0)
    text: str = Field(description="Whitespace collapsed.")
    page: int | None = Field(None, ge=1, description="PDFs only.")
    section: str | None = Field(None, description="The innermost heading above it, when there is one.")


class Section(BaseModel):
    title: str | None
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    sentences: list[Sentence]


class Summary(BaseModel):
    """What `bertcli summarize - -f json` prints."""

    source: str
    format: str
    language: str | None
    model: str
    strategy: str
    sentences: list[Sentence]
    sections: list[Section] | None = Field(None, description="summarize --by-section only.")


class Answer(BaseModel):
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float
    context: str
    context_start: int = Field(ge=0)
    source: str = Field(description="The document it lies in (\"-\" for a request's text).")
    page: int | None = Field(None, ge=1)
    section: str | None = None


class Passage(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    source: str = Field(description="The document it lies in (bertcli/schemas/answer.schema.json).")


class AskResult(BaseModel):
    """What `bertcli ask QUESTION - -f json` prints."""

    source: str | None
    format: str
    language: str | None
    model: str | None
    mode: str = Field(description='"reader" or "retrieval"')
    question: str
    answers: list[Answer] = Field(description="Empty when the document does not answer.")
    no_answer_score: float | None
    best_guess: Answer | None
    passages: list[Passage]


class AskResponse(RootModel[AskResult | list[AskResult]]):
    """One object for "question", a list (one per question) for "questions"."""


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {401: "missing or wrong token", 403: '"url" without --allow-urls, or under --offline',
               413: "body over --max-bytes", 422: "a body or field that is not valid, or a document "
               "that cannot be read", 429: "over --max-concurrent requests at once (Retry-After)",
               500: "a bug (also in the server's log)",
               503: "no answer within --request-timeout (Retry-After), or a model failed to load"}
    return {s: {"model": ErrorBody, "description": meaning[s]} for s in statuses}


def operation(name: str, token: bool) -> dict[str, Any]:
    """FastAPI route arguments that document operation `name` (health, summarize, ask)."""
    auth = (401,) if token else ()
    if name == "health":
        return {"summary": "Liveness and the loaded reader", "responses": {200: {"model": Health}, **_errors(*auth)}}
    request, response = (SummarizeRequest, Summary) if name == "summarize" else (AskRequest, AskResponse)
    body = {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{request.__name__}"}}}}
    return {"summary": (request.__doc__ or "").strip().splitlines()[0], "openapi_extra": {"requestBody": body},
            "responses": {200: {"model": response}, **_errors(*auth, 403, 413, 422, 429, 500, 503)}}


def add_request_schemas(schema: dict[str, Any], token: bool) -> dict[str, Any]:
    """The OpenAPI document FastAPI made, with the request bodies (declared by $ref in
    `operation`) and, with a token, the bearer scheme."""
    from pydantic.json_schema import models_json_schema

    _, defs = models_json_schema([(SummarizeRequest, "validation"), (AskRequest, "validation")],
                                 ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(defs.get("$defs", {}))
    if token:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
    return schema
