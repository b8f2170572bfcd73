import pytest

from bertcli.errors import EXIT_INPUT, InputError
from bertcli.read.document import Document, as_document, decode, read_document


def test_reads_utf8_and_normalises_newlines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffOne.\r\nTwo café.\rThree.".encode("utf-8"))
    doc = read_document(str(path))
    assert doc == Document(str(path), "One.\nTwo café.\nThree.")


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "empty document"),
        (lambda p: p.write_bytes(b" \n\t \n"), "empty document"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "binary"),
        (lambda p: p.write_bytes("caf\xe9 au lait".encode("latin-1")), "--encoding"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path, setup, message):
    path = tmp_path / "doc.txt"
    setup(path)
    with pytest.raises(InputError) as info:
        read_document(str(path))
    assert message in info.value.message
    assert str(path) in info.value.message
    assert info.value.exit_code == EXIT_INPUT


def test_encoding_option_decodes_latin1(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    assert read_document(str(path), encoding="latin-1").text == "café au lait"


def test_unknown_encoding(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("hello")
    with pytest.raises(InputError, match="unknown encoding"):
        read_document(str(path), encoding="no-such-codec")


def test_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 100)
    with pytest.raises(InputError, match="limit"):
        read_document(str(path), max_bytes=100)
    assert read_document(str(path), max_bytes=1000).text.startswith("word")


def test_unreadable_file(tmp_path):
    import os

    path = tmp_path / "secret.txt"
    path.write_text("hello")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(InputError, match="permission denied"):
        read_document(str(path))


def test_as_document_accepts_strings():
    assert as_document("Some text.").text == "Some text."
    with pytest.raises(InputError):
        as_document("   ")
    assert decode(b"x", "s").source == "s"


@pytest.mark.parametrize("text, encoding, suggested", [
    ("根据官方公布的数据，这个版本的开源软件已经在全球范围内正式发布并获得了广泛好评。", "gbk", "gb18030"),
    ("Привет, как дела? Всё хорошо, спасибо.", "cp1251", "cp1251"),
    ("Le café était très bon, et la crème brûlée aussi.", "latin-1", "latin-1"),
])
def test_not_utf8_names_a_likely_encoding_that_works(tmp_path, text, encoding, suggested):
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(InputError, match=f"--encoding {suggested}$"):
        read_document(str(path))
    assert read_document(str(path), encoding=suggested).text == text


def test_binary_hints_name_utf16_only_when_the_bytes_look_like_it(tmp_path):
    program = tmp_path / "program.txt"
    program.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + bytes(range(256)) * 4)
    wide = tmp_path / "wide.txt"
    wide.write_bytes("Hello world, this is text.".encode("utf-16-le"))
    with pytest.raises(InputError) as err:
        read_document(str(program))
    assert err.value.message == f"{program}: looks like a binary file, not text"
    with pytest.raises(InputError, match=r"UTF-16 without a BOM\? pass --encoding utf-16"):
        read_document(str(wide))


def test_a_text_file_named_pdf_says_so(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_text("Just some notes, not a PDF.", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_document(str(path))
    assert err.value.message == (f"{path}: not a PDF (no %PDF- header); "
                                 "if it is text, pass --input-format text")
