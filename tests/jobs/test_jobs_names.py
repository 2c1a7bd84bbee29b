"""Output names made from inputs: never outside the folder, never two inputs on one file, the same on every run."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmgen.jobs import OutputError
from mmgen.jobs.output_names import inside, output_stems, safe_parts


@pytest.mark.parametrize("name, parts", [
    ("talks/2024/monday.wav", ["talks", "2024", "monday.wav"]),
    ("../../etc/passwd", ["etc", "passwd"]),
    ("/abs/x.wav", ["abs", "x.wav"]),
    ("C:\\\\Users\\\\me\\\\a.wav", ["C_", "Users", "me", "a.wav"]),
    ("a/./b/../c.wav", ["a", "b", "c.wav"]),
    ("<stdin>", ["_stdin_"]),
    ("..", ["input"]),
    ("what?.wav", ["what_.wav"]),
])
def test_safe_parts(name, parts):
    assert safe_parts(name) == parts


def test_stems_drop_the_suffix_unless_two_inputs_would_share_a_name():
    stems = output_stems({"a/talk.wav": "talk.wav", "b/talk.wav": "talk.wav", "c/talk.flac": "talk.flac",
                          "x": "2024/monday.wav", "y": "TALK.WAV", 7: "7"})
    assert stems == {"a/talk.wav": "talk.wav", "b/talk.wav": "talk.wav-2", "c/talk.flac": "talk.flac",
                     "x": "2024/monday", "y": "TALK.WAV-3", 7: "7"}


@given(st.lists(st.text(alphabet="ab./\\\\:<> ", min_size=0, max_size=12), min_size=1, max_size=12))
def test_any_names_give_unique_stems_inside_the_folder(names):
    stems = output_stems({i: name for i, name in enumerate(names)})
    assert len({s.lower() for s in stems.values()}) == len(names)
    for stem in stems.values():
        assert not stem.startswith("/") and ".." not in stem.split("/") and stem


def test_inside_refuses_a_link_out_of_the_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "link")
    assert inside(tmp_path / "out", "a/b.srt") == tmp_path / "out" / "a" / "b.srt"
    with pytest.raises(OutputError, match="outside"):
        inside(tmp_path / "out", "link/b.srt")
