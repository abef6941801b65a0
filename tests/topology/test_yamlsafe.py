"""Strict YAML: no YAML-1.1 surprises, no silent duplicate keys, lines kept for messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.errors import ConfigError
from regiongate.topology import yamlsafe
from regiongate.topology.iso3166 import ISO3166_ALPHA2
from regiongate.topology.yamlsafe import load


@pytest.mark.parametrize("word", ["NO", "no", "No", "yes", "Yes", "YES", "on", "On", "off", "OFF", "y", "Y", "n", "N"])
def test_yaml11_words_stay_strings(word: str) -> None:
    assert load(f"value: {word}\n", "t").data == {"value": word}


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), ("True", True), ("FALSE", False)])
def test_only_true_and_false_are_booleans(text: str, value: bool) -> None:
    assert load(f"value: {text}\n", "t").data == {"value": value}


@given(st.sampled_from(sorted(ISO3166_ALPHA2)))
def test_every_country_code_reads_as_itself(code: str) -> None:
    assert load(f"country: {code}\nset: [{code}]\n", "t").data == {"country": code, "set": [code]}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("010", 10),  # decimal, not YAML 1.1's octal
        ("09", 9),
        ("-5", -5),
        ("+7", 7),
        ("3.20", 3.2),
        ("1e3", 1000.0),
        ("1:30", "1:30"),  # not YAML 1.1's sexagesimal 90
        ("2027-12-31", "2027-12-31"),  # dates stay text: the loader checks them with their path
        ("1_000", "1_000"),
        ("=", "="),
        ("~", None),
    ],
)
def test_scalars_follow_the_yaml12_core_schema(text: str, value: object) -> None:
    assert load(f"value: {text}\n", "t").data == {"value": value}


def test_numbers_keep_their_source_text() -> None:
    doc = load("a: 3.20\nb: [1, 2.50]\nc: '3.2'\n", "t")
    assert doc.raw_numbers == {"a": "3.20", "b[0]": "1", "b[1]": "2.50"}


def test_lines_are_indexed_by_path() -> None:
    doc = load("a:\n  b:\n    - x\n    - c: 1\n", "t")
    assert doc.lines["a"] == 1
    assert doc.lines["a.b"] == 2
    assert doc.lines["a.b[1]"] == 4
    assert doc.lines["a.b[1].c"] == 4
    assert doc.line_of("a.b[1].missing") == 4  # a missing key points at its parent
    assert doc.line_of("zzz") == 1


def test_duplicate_keys_are_refused_with_path_and_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        load("a:\n  - k: 1\n  - k: 1\n    k: 2\n", "f.yaml")
    assert caught.value.path == "a[1].k"
    assert caught.value.problem == "duplicate key (line 4; first defined at line 3)"
    assert str(caught.value).startswith("f.yaml: a[1].k: ")


def test_duplicate_top_level_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load("version: 1\nversion: 2\n", "t")
    assert caught.value.path == "version"


def test_merge_keys_may_override_without_being_duplicates() -> None:
    text = "base: &b {input: [text], output: [text]}\nm:\n  <<: *b\n  output: [audio]\n"
    assert load(text, "t").data == {
        "base": {"input": ["text"], "output": ["text"]},
        "m": {"input": ["text"], "output": ["audio"]},
    }


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="recursive alias"):
        load("a: &x [1, *x]\n", "t")


def test_alias_bombs_are_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsafe, "MAX_NODES", 1000)
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 5)]
    with pytest.raises(ConfigError, match="document too large"):
        load("\n".join(levels) + "\n", "t")


def test_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(ConfigError) as caught:
        load("a: 1\nb: [2,\n", "t")
    assert caught.value.path == ""
    assert "(line 3, column 1)" in caught.value.problem


def test_python_tags_are_refused() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load("a: !!python/object/apply:os.system ['true']\n", "t")


def test_complex_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="mapping keys must be plain values"):
        load("? [a, b]\n: 1\n", "t")


def test_empty_document() -> None:
    assert load("", "t").data is None
    assert load("# only a comment\n", "t").data is None
