"""The text reader: UTF-8 (BOM removed), UTF-16/32 by their BOM, an explicit encoding, errors that name the
file, the line and --encoding, and lines read lazily."""

from __future__ import annotations

import codecs
import io
import tracemalloc

import pytest

from mmgen.inputs.errors import InputError
from mmgen.inputs.files import text as text_module
from mmgen.inputs.files.text import decode_text, iter_stdin_lines, iter_text_lines, read_text, read_text_lines

LINES = ["Ça coûte 5 €?", "", "naïve café — 東京"]


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-8"),
    lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    lambda t: t.encode("utf-16"),  # Python writes the machine's BOM
    lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"),
    lambda t: t.encode("utf-32"),
    lambda t: codecs.BOM_UTF32_BE + t.encode("utf-32-be"),
], ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-32-be"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_unicode_file_reads_the_same_lines(tmp_path, encode, newline):
    path = tmp_path / "in.txt"
    path.write_bytes(encode(newline.join(LINES) + newline))
    assert read_text_lines(path) == LINES
    assert read_text(path) == "\n".join(LINES) + "\n"


def test_a_bom_is_never_part_of_line_one(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(codecs.BOM_UTF8 + b"hello\n")
    assert read_text_lines(path) == ["hello"]
    assert read_text_lines(path, encoding="utf-8") == ["hello"]  # also with the encoding named
    path.write_bytes(codecs.BOM_UTF8)
    assert read_text_lines(path) == []


def test_the_last_line_needs_no_newline_and_empty_lines_stay(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"a\n\nb")
    assert read_text_lines(path) == ["a", "", "b"]


@pytest.mark.parametrize("data, line, byte", [
    ("Ça coûte\n".encode("latin-1"), 1, "0xC7"),
    (b"one\ntwo\r\nthr\xffee\n", 3, "0xFF"),
    (b"ok\r\rstill ok\n\x80", 4, "0x80"),
])
def test_bytes_that_are_not_utf8_name_the_file_line_byte_and_encoding_option(tmp_path, data, line, byte):
    path = tmp_path / "legacy.txt"
    path.write_bytes(data)
    with pytest.raises(InputError) as raised:
        read_text_lines(path)
    error = raised.value
    assert "legacy.txt" in error.input_name
    assert f"line {line} is not valid UTF-8" in error.reason and byte in error.reason
    assert "--encoding" in error.fix and "encoding='latin-1'" in error.fix
    assert not isinstance(error.__cause__, UnicodeDecodeError)  # no raw traceback chained in


def test_an_explicit_encoding_is_honoured(tmp_path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("Ça coûte\n“quoted”\n".encode("cp1252"))
    assert read_text_lines(path, encoding="cp1252") == ["Ça coûte", "“quoted”"]
    assert read_text_lines(path, encoding="latin-1")[0] == "Ça coûte"
    with pytest.raises(InputError, match="line 1 is not valid ascii.*instead of 'ascii'"):
        read_text_lines(path, encoding="ascii")
    with pytest.raises(InputError, match="unknown encoding 'latin-9000'"):
        read_text_lines(path, encoding="latin-9000")


def test_utf16_without_a_bom_is_named(tmp_path):
    path = tmp_path / "nobom.txt"
    path.write_bytes("plain ascii\n".encode("utf-16-le"))
    with pytest.raises(InputError, match="NUL.*utf-16-le"):
        read_text_lines(path)
    assert read_text_lines(path, encoding="utf-16-le") == ["plain ascii"]


def test_missing_empty_and_folder_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_text_lines(tmp_path / "gone.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.txt.*empty \(0 bytes\)"):
        read_text_lines(tmp_path / "empty.txt")
    with pytest.raises(InputError, match="a folder, not a file"):
        read_text_lines(tmp_path)


def test_an_error_deep_in_a_file_comes_when_the_reader_gets_there(tmp_path):
    path = tmp_path / "late.txt"
    good = "".join(f"line {i}\n" for i in range(50_000))
    path.write_bytes(good.encode() + b"bad \xe9\n")
    lines = iter_text_lines(path)
    assert [next(lines) for _ in range(3)] == ["line 0", "line 1", "line 2"]
    with pytest.raises(InputError, match="line 50001 is not valid UTF-8"):
        list(lines)


@pytest.mark.parametrize("chunk", [7, 1 << 16])
def test_every_complete_line_before_a_bad_byte_is_given_then_the_error_names_it(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(text_module, "CHUNK_BYTES", chunk)  # the bad byte in the first chunk read, or in a later one
    path = tmp_path / "notes.txt"
    path.write_bytes("first line\r\nsecond, café\rthird\n\n".encode() + b"fifth \xff sixth\nafter\n")
    lines = iter_text_lines(path)
    assert [next(lines) for _ in range(4)] == ["first line", "second, café", "third", ""]
    with pytest.raises(InputError) as raised:
        next(lines)
    message = str(raised.value)
    assert "notes.txt" in message and "line 5 is not valid UTF-8 (byte 0xFF" in message and "--encoding" in message


def test_lines_stream_without_holding_the_file(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("".join(f"sentence number {i} of a long file\n" for i in range(100_000)), encoding="utf-8")
    size = path.stat().st_size  # 3.7 MB, and 100,000 str objects when held whole
    tracemalloc.start()
    count = sum(1 for _ in iter_text_lines(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 100_000
    assert peak < 1 << 20, f"peak {peak} bytes while streaming a {size}-byte file"


def test_a_line_longer_than_a_chunk_is_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(text_module, "CHUNK_BYTES", 7)
    path = tmp_path / "long.txt"
    path.write_bytes("a long first line, café\r\nsecond\r\n".encode())
    assert read_text_lines(path) == ["a long first line, café", "second"]  # \r\n split across chunks too


def test_stdin_is_read_from_its_bytes():
    class Stdin(io.TextIOWrapper):
        pass

    good = Stdin(io.BytesIO(codecs.BOM_UTF8 + b"first\nsecond\n"), encoding="latin-1")  # the locale is ignored
    assert list(iter_stdin_lines(good)) == ["first", "second"]
    bad = Stdin(io.BytesIO(b"fine\nbad \xe9\n"), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        list(iter_stdin_lines(bad))
    assert raised.value.input_name == "<stdin>" and "line 2" in raised.value.reason
    assert list(iter_stdin_lines(io.StringIO("already\ndecoded\n"))) == ["already", "decoded"]


def test_bytes_decode_by_the_same_rules():
    assert decode_text("x\r\ny".encode("utf-16")) == "x\ny"
    with pytest.raises(InputError, match="<stdin>.*: line 1 is not valid UTF-8"):
        decode_text(b"\xff", name="<stdin>")
