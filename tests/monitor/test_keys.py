"""`Key`: built and split in one place, validated, and still exactly the public string."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.keys import InvalidKey, Key

ids = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?", fullmatch=True)


@given(ids, ids, ids)
def test_it_round_trips_a_check_key_through_its_string(operator: str, service: str, check: str) -> None:
    key = Key.of(operator, service, check)
    assert key == f"{operator}/{service}/{check}"
    assert Key.parse(str(key)) == key
    assert (key.operator, key.service_id, key.check) == (operator, service, check)
    assert key.service == f"{operator}/{service}" and isinstance(key.service, Key)


@given(ids, ids)
def test_it_round_trips_a_service_key_through_its_string(operator: str, service: str) -> None:
    key = Key.of(operator, service)
    assert Key.parse(str(key)) == key == f"{operator}/{service}"
    assert key.check is None and not key.is_check
    assert key.service is key


def test_it_finds_the_entry_a_plain_string_made() -> None:
    table = {"almerys/pec-optique": 1}
    assert table[Key("almerys/pec-optique")] == 1
    assert {Key("almerys/pec-optique"): 2}["almerys/pec-optique"] == 2


def test_it_gives_the_metric_labels_in_order() -> None:
    assert Key("almerys/pec-optique/api").labels() == ["almerys", "pec-optique", "api"]
    assert Key("almerys/pec-optique").labels() == ["almerys", "pec-optique"]


def test_it_is_stored_and_serialised_as_its_string(tmp_path: Path) -> None:
    key = Key("almerys/pec-optique/api")
    assert json.dumps({"id": key}) == '{"id": "almerys/pec-optique/api"}'
    assert pickle.loads(pickle.dumps(key)) == key and type(pickle.loads(pickle.dumps(key))) is Key
    db = sqlite3.connect(tmp_path / "keys.db")
    db.execute("CREATE TABLE t (key TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (key,))
    assert db.execute("SELECT key FROM t").fetchone() == ("almerys/pec-optique/api",)
    db.close()


def test_it_is_immutable() -> None:
    key = Key("almerys/pec-optique")
    with pytest.raises(AttributeError):
        key.operator = "viamedis"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        key.anything = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text, why",
    [
        ("almerys", "is not 'operator/service' or 'operator/service/check'"),
        ("a/b/c/d", "is not 'operator/service' or 'operator/service/check'"),
        ("", "is not 'operator/service'"),
        ("almerys/", "service id '' is not lowercase letters"),
        ("/pec", "operator id '' is not lowercase letters"),
        ("Almerys/pec", "operator id 'Almerys' is not lowercase letters"),
        ("almerys/pec_optique", "service id 'pec_optique'"),
        ("almerys/pec/-api", "check id '-api'"),
        ("almerys/pec-/api", "service id 'pec-'"),
        ("almerys/pec /api", "service id 'pec '"),
        ("almerys/" + "p" * 65, "service id"),
        ("almerys/pec\n/api", "service id 'pec\\n'"),
    ],
)
def test_it_rejects_a_malformed_key_saying_why(text: str, why: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        Key(text)
    assert why in str(caught.value)


@pytest.mark.parametrize("value", [None, 42, b"almerys/pec", ("almerys", "pec")])
def test_it_rejects_what_is_not_a_string(value: object) -> None:
    with pytest.raises(InvalidKey, match="must be a string"):
        Key(value)  # type: ignore[arg-type]


def test_it_rejects_bad_parts_when_building() -> None:
    with pytest.raises(InvalidKey, match="check id 'API'"):
        Key.of("almerys", "pec", "API")
    with pytest.raises(InvalidKey, match="service id 'a/b'"):
        Key.of("almerys", "a/b")  # a part cannot smuggle a separator
    with pytest.raises(InvalidKey, match="must be a string"):
        Key.of("almerys", None)  # type: ignore[arg-type]


def test_it_tells_a_service_key_from_a_check_key() -> None:
    assert Key.service_of("almerys/pec") == "almerys/pec"
    assert Key.check_of("almerys/pec/api") == "almerys/pec/api"
    with pytest.raises(InvalidKey, match="is a check, not 'operator/service'"):
        Key.service_of("almerys/pec/api")
    with pytest.raises(InvalidKey, match="is a service, not 'operator/service/check'"):
        Key.check_of("almerys/pec")


def test_it_is_a_value_error_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError):
        Key("nope")
