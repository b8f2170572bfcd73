"""Every command's JSON record follows its shipped schema (bertcli/schemas/): answers from
`ask` (one document, no answer, --across, --index), `chat` and `serve /ask`; summaries from
`summarize` (text, HTML, PDF, --by-section), `serve /summarize` and `batch summarize`;
documents from `text`. The schemas forbid fields they do not name, so a new or renamed field
fails here until its schema describes it."""

from __future__ import annotations

import json
import warnings

import pytest

jsonschema = pytest.importorskip("jsonschema")

from bertcli.schemas import NAMES, load, schema_text  # noqa: E402

from .conftest import EXAMPLE, ROOT  # noqa: E402

DATA = ROOT / "tests" / "data"
HTML = DATA / "article.html"
PDF = DATA / "viggo-inlg2019.pdf"
OTHER = "Bread is baked in ovens. The valley has many villages and two rivers.\n"
CORPUS = [
    {"id": "harbour", "text": "The old harbour was rebuilt in 1911. The harbour master, Ada Quill, "
                              "ordered forty new cranes from Glasgow. Ships now dock at night."},
    {"id": "orchard", "text": "Apples grow on the north slope. The orchard was planted by Tomas Brey "
                              "in 1870. Frost is the main danger in April."},
    {"id": "empty", "text": "   \n"},
]


@pytest.fixture(scope="module")
def validators() -> dict:
    found = {}
    for name in NAMES:
        schema = load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        found[name] = jsonschema.Draft202012Validator(schema)
    return found


def check(validators, name: str, records: list[dict]) -> list[dict]:
    """Fail with every schema error of every record; the records, for further checks."""
    assert records, "no records to check"
    problems = [f"{r.get('source')}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for r in records for e in validators[name].iter_errors(r)]
    assert not problems, "\n".join(problems)
    return records


def records(text: str) -> list[dict]:
    """JSON (one object or a list) or JSON Lines, as a list of records."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return body if isinstance(body, list) else [body]


def test_schemas_are_described_and_printed_by_the_schema_command(validators, run_cli):
    def undescribed(node, path: str = "") -> list[str]:
        """Every property, at any depth, that has no description."""
        if isinstance(node, list):
            return [m for item in node for m in undescribed(item, path)]
        if not isinstance(node, dict):
            return []
        missing = [f"{path}/{key}" for key, sub in node.get("properties", {}).items() if "description" not in sub]
        return missing + [m for key, sub in node.items() for m in undescribed(sub, f"{path}/{key}")]

    for name in NAMES:
        assert load(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert undescribed(load(name)) == [], name
        proc = run_cli("schema", name)
        assert proc.returncode == 0, proc.err
        assert proc.out == schema_text(name) and json.loads(proc.out) == load(name)
    assert run_cli("schema", "answers").returncode == 2


def test_schemas_ship_as_package_data():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["bertcli.schemas"]
    shipped = {p.name for pattern in patterns for p in (ROOT / "bertcli" / "schemas").glob(pattern)}
    assert shipped == {f"{name}.schema.json" for name in NAMES}
    assert (ROOT / "bertcli" / "schemas" / "__init__.py").exists()  # found by packages.find


def test_enums_follow_the_code():
    from bertcli.read.blocks import BlockKind, Reason
    from bertcli.summarize.strategies import STRATEGIES

    document = load("document")["properties"]
    assert document["blocks"]["items"]["properties"]["kind"]["enum"] == [k.value for k in BlockKind]
    assert document["removed"]["items"]["properties"]["reason"]["enum"] == [r.value for r in Reason]
    assert load("summary")["properties"]["strategy"]["enum"] == list(STRATEGIES)


def test_a_record_that_drifts_fails(validators):
    """The schemas catch a renamed field, a missing one and one they do not describe."""
    answer = {"text": "Rollo", "start": 5, "end": 10, "score": 0.9, "context": "x Rollo", "context_start": 3,
              "source": "a.txt"}
    good = {"source": "a.txt", "format": "text", "language": "en", "model": "m", "mode": "reader",
            "question": "Who?", "answers": [answer], "no_answer_score": 0.1, "best_guess": None,
            "passages": [{"start": 0, "end": 10, "source": "a.txt"}]}
    check(validators, "answer", [good])
    bad = [{**good, "passages": [{"start": 0, "end": 10}]},
           {**good, "answers": [{**answer, "page": 0}]},
           {k: v for k, v in good.items() if k != "best_guess"},
           {**good, "mode": "guess"},
           {**{k: v for k, v in good.items() if k != "question"}, "query": "Who?"},
           {**good, "answers": [{**answer, "offset": 5}]}]
    assert all(not validators["answer"].is_valid(record) for record in bad)


# --- summaries ------------------------------------------------------------------------------

def test_summarize_json_and_jsonl(validators, run_cli, tiny_encoder_dir):
    model = ["-m", tiny_encoder_dir, "-s", "central", "-n", "3", "--offline"]
    proc = run_cli("summarize", EXAMPLE, HTML, PDF, *model, "-f", "jsonl")
    assert proc.returncode == 0, proc.err
    got = check(validators, "summary", records(proc.out))
    assert [r["format"] for r in got] == ["text", "html", "pdf"]
    assert all("page" in s for s in got[2]["sentences"])

    proc = run_cli("summarize", PDF, HTML, *model, "--by-section", "-f", "json")
    assert proc.returncode == 0, proc.err
    got = check(validators, "summary", records(proc.out))
    assert got[0]["sections"] and any(s.get("section") for s in got[0]["sentences"])

    proc = run_cli("summarize", EXAMPLE, *model, "-f", "json")
    assert proc.returncode == 0, proc.err
    check(validators, "summary", records(proc.out))


def test_batch_summarize_rows(validators, run_cli, tiny_encoder_dir, tmp_path):
    from bertcli.batch.output import read_rows

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in CORPUS), encoding="utf-8")
    for out in (tmp_path / "out.jsonl", tmp_path / "out.parquet"):
        proc = run_cli("batch", "summarize", corpus, "--out", out, "-m", tiny_encoder_dir, "-s", "central",
                       "-n", "1", "--workers", "1", "--offline")
        assert proc.returncode == 0, proc.err
        rows = {row["id"]: row for row in check(validators, "summary", list(read_rows(str(out))))}
        assert rows["orchard"]["source"] == "orchard" and rows["orchard"]["language"] == "en"
        assert rows["empty"]["error"] and rows["empty"]["sentences"] == []


# --- answers --------------------------------------------------------------------------------

def test_ask_answered_and_not(validators, run_cli, tiny_qa_dir):
    question = "Who was the Norse leader?"
    proc = run_cli("ask", question, EXAMPLE, PDF, "-m", tiny_qa_dir, "--always-answer", "-k", "2",
                   "-f", "jsonl", "--offline")
    assert proc.returncode == 0, proc.err
    one, pdf = check(validators, "answer", records(proc.out))
    assert one["answers"] and one["passages"] and all(p["source"] == str(EXAMPLE) for p in one["passages"])
    assert all("page" in a for a in pdf["answers"])

    proc = run_cli("ask", question, EXAMPLE, "-m", tiny_qa_dir, "--min-score", "1", "-f", "json", "--offline")
    assert proc.returncode == 0, proc.err
    silent = check(validators, "answer", records(proc.out))[0]
    assert silent["answers"] == [] and silent["best_guess"] is not None
    assert silent["no_answer_score"] is not None


def test_ask_across_fills_passages_with_their_documents(validators, run_cli, tiny_qa_dir, tmp_path):
    other = tmp_path / "b.txt"
    other.write_text(OTHER, encoding="utf-8")
    texts = {str(EXAMPLE): EXAMPLE.read_text(encoding="utf-8"), str(other): OTHER}
    question = "Who was the Norse leader?"
    proc = run_cli("ask", question, EXAMPLE, other, "-m", tiny_qa_dir, "--across", "-k", "3", "-f", "json",
                   "--offline")
    assert proc.returncode == 0, proc.err
    across = check(validators, "answer", records(proc.out))[0]
    assert {p["source"] for p in across["passages"]} == set(texts)
    assert all(p["end"] <= len(texts[p["source"]]) for p in across["passages"])

    proc = run_cli("ask", question, EXAMPLE, "-m", tiny_qa_dir, "-f", "json", "--offline")
    single = check(validators, "answer", records(proc.out))[0]
    assert set(across) == set(single)
    assert {k for a in across["answers"] for k in a} <= set(load("answer")["$defs"]["answer"]["properties"])


def test_ask_index(validators, run_cli, tiny_qa_dir, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in CORPUS), encoding="utf-8")
    index = tmp_path / "index"
    proc = run_cli("batch", "index", corpus, "--out", index, "--workers", "1", "--offline")
    assert proc.returncode == 0, proc.err
    texts = {row["id"]: row["text"] for row in CORPUS}
    for extra in (["-m", tiny_qa_dir, "--always-answer"], ["--retrieval-only"]):
        proc = run_cli("ask", "--index", index, "Who planted the orchard?", "Who ordered cranes?", *extra,
                       "-k", "2", "-f", "jsonl", "--offline")
        assert proc.returncode == 0, proc.err
        for result in check(validators, "answer", records(proc.out)):
            assert result["passages"] and result["answers"]
            for passage in result["passages"]:
                assert passage["end"] <= len(texts[passage["source"]])


def test_chat_jsonl(validators, run_cli, tiny_qa_dir):
    proc = run_cli("chat", EXAMPLE, "-m", tiny_qa_dir, "-f", "jsonl", "--offline",
                   input="Who was the Norse leader?\nWhere is Normandy?\n")
    assert proc.returncode == 0, proc.err
    assert len(check(validators, "answer", records(proc.out))) == 2


def test_serve_ask_and_summarize(validators, tiny_qa_dir, tiny_encoder_dir):
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from bertcli.server import Service, create_app

    service = Service(model=str(tiny_encoder_dir), reader=str(tiny_qa_dir), device="cpu", offline=True,
                      max_bytes=200_000)
    text = EXAMPLE.read_text(encoding="utf-8")
    with TestClient(create_app(service)) as client:
        one = client.post("/ask", json={"question": "Who was the Norse leader?", "text": text, "top_k": 2})
        several = client.post("/ask", json={"questions": ["Who?", "Where is Normandy?"], "text": text,
                                            "min_score": 1})
        summary = client.post("/summarize", json={"text": text, "strategy": "central", "num_sentences": 2})
    assert [r.status_code for r in (one, several, summary)] == [200, 200, 200]
    check(validators, "answer", [one.json()] + several.json())
    check(validators, "summary", [summary.json()])


# --- documents ------------------------------------------------------------------------------

def test_text_json(validators, run_cli, tmp_path):
    markdown = tmp_path / "notes.md"
    markdown.write_text("# Title\n\nSome text.\n\n## Part\n\n- an item\n", encoding="utf-8")
    proc = run_cli("text", EXAMPLE, HTML, PDF, markdown, "-f", "jsonl")
    assert proc.returncode == 0, proc.err
    got = check(validators, "document", records(proc.out))
    assert got[2]["removed"] and all("page" in b for b in got[2]["blocks"])
    assert any("level" in b for b in got[3]["blocks"])
    proc = run_cli("text", EXAMPLE, "-f", "json")
    assert proc.returncode == 0, proc.err
    check(validators, "document", records(proc.out))

