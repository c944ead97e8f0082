"""Text data: tokenisation in any script, explicit unknown tokens, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.core.errors import DataError
from ganforge.core.modalities.text.data import build_dataset, builtin_names, read_lines
from ganforge.core.modalities.text.vocab import EOS_ID, PAD_ID, UNK_ID, UNK_TEXT, Vocab, tokenise


def test_char_level_any_script(tmp_path: Path) -> None:
    f = tmp_path / "names.txt"
    f.write_text("Amélie\n\n李小龙\r\nZoë\n", encoding="utf-8")
    ds = build_dataset(f, 8, {"level": "char"})
    vocab = ds.vocab
    assert ds.data_info["count"] == 3  # the empty line is skipped
    for i, line in enumerate(["Amélie", "李小龙", "Zoë"]):
        row = ds.ids[i].tolist()
        assert vocab.decode(row) == line
        assert row[len(line)] == EOS_ID and all(t == PAD_ID for t in row[len(line) + 1:])


def test_nfc_normalisation_makes_one_token(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("e\u0301t\u00e9\n", encoding="utf-8")  # "é" decomposed, then composed
    ds = build_dataset(f, 8, {})
    assert ds.vocab.decode(ds.ids[0].tolist()) == "été"
    assert "\u0301" not in ds.vocab.tokens


def test_word_level_unknown_token_is_explicit(tmp_path: Path) -> None:
    f = tmp_path / "caps.txt"
    f.write_text("a man rides a horse\na dog on a beach\na zebra\n", encoding="utf-8")
    ds = build_dataset(f, 6, {"level": "word", "max_vocab": 8})
    v = ds.vocab
    assert len(v) == 8 and v.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert ds.data_info["unknown_tokens"] > 0
    assert v.encode(tokenise("a quokka", "word"))[1] == UNK_ID
    assert v.decode(v.encode(["a", "quokka"]) + [EOS_ID]) == f"a {UNK_TEXT}"
    assert Vocab.from_json(v.to_json()).tokens == v.tokens


def test_long_lines_truncated_with_a_count(tmp_path: Path) -> None:
    f = tmp_path / "long.txt"
    f.write_text("abcdefghij\nab\nklmnopqrstu\n", encoding="utf-8")
    notes: list[str] = []
    ds = build_dataset(f, 4, {}, warn=notes.append)
    assert ds.data_info["truncated"] == 2
    assert len(notes) == 1 and "2 of 3 line(s)" in notes[0] and "--max-len" in notes[0]
    assert ds.vocab.decode(ds.ids[0].tolist()) == "abcd"


def test_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "latin1.txt"
    f.write_bytes("ok\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt: not UTF-8 text \(byte 0xe9 at line 2\)"):
        read_lines(f)


def test_only_empty_lines(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("\n   \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty.txt: no text"):
        read_lines(f)


def test_one_giant_line(tmp_path: Path) -> None:
    f = tmp_path / "giant.txt"
    f.write_text("word " * 30_000, encoding="utf-8")
    with pytest.raises(DataError, match="giant.txt: a line of 150,000 characters; text data is one sample per line"):
        read_lines(f)


def test_folder_and_missing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "d" / "b.txt").write_text("y\n", encoding="utf-8")
    (tmp_path / "d" / "skip.png").write_bytes(b"\x89PNG")
    assert read_lines(tmp_path / "d")[0] == ["x", "y"]
    with pytest.raises(DataError, match="no such file"):
        read_lines(tmp_path / "nope.txt")
    (tmp_path / "e").mkdir()
    with pytest.raises(DataError, match="no text files"):
        read_lines(tmp_path / "e")


def test_builtin_names_corpus() -> None:
    names = builtin_names()
    assert len(names) > 2000 and names == sorted(set(names))
    assert any(ch in "".join(names) for ch in "éèüöłšž")  # accented Latin
    lines, name, _ = read_lines("builtin:names")
    assert name == "builtin:names" and lines == names
    with pytest.raises(DataError, match="builtin:nope: unknown built-in text corpus"):
        read_lines("builtin:nope")


def test_sampling_is_seeded(tmp_path: Path) -> None:
    import torch

    f = tmp_path / "n.txt"
    f.write_text("\n".join(f"line {i}" for i in range(50)), encoding="utf-8")
    ds = build_dataset(f, 10, {})
    a = ds.sample(8, torch.Generator().manual_seed(3))
    b = ds.sample(8, torch.Generator().manual_seed(3))
    assert a.shape == (8, 11) and a.dtype == torch.int64 and torch.equal(a, b)


def test_a_corpus_of_millions_of_tiny_lines_is_refused_before_encoding(tmp_path: Path) -> None:
    f = tmp_path / "flood.txt"
    f.write_bytes(b"a\n" * 1_000_001)  # 2 MB on disk; encoded it would be a million padded rows
    from memory_limit import under_memory_limit

    kind, message = under_memory_limit(read_lines, f, extra_mb=1024)
    assert kind == "DataError" and "flood.txt: more than 1,000,000 lines" in message and "\n" not in message
