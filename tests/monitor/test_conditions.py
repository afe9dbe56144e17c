"""The condition language: every form passing and failing, every syntax error, and robustness."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.conditions import (
    Condition,
    ConditionSyntaxError,
    Verdict,
    assess,
    parse_condition,
)
from probes.base import CertInfo, ProbeResult

NOW = 1_780_000_000.0
DAY = 86400.0


def http(**fields: object) -> ProbeResult:
    """An HTTPS answer: 200 in 0.8s, JSON body, TLS 1.3, a certificate valid for 30 more days."""
    base: dict[str, object] = dict(
        started_at=NOW,
        duration=0.8123,
        status=200,
        headers={"content-type": "application/json; charset=utf-8", "x-status": "green"},
        body=json.dumps(
            {"status": "UP", "data": {"items": [{"ok": True}, {"ok": False}]}, "count": 3, "version": "2",
             "note": None, "tags": ["a", "b"], "flag": 1}
        ).encode(),
        phases={"dns": 0.004, "connect": 0.012, "tls": 0.03, "first_byte": 0.7, "transfer": 0.06},
        redirects=["https://a.example/", "https://b.example/"],
        tls_version="1.3",
        cert=CertInfo("CN=pec.example.org", "CN=CA", NOW - 60 * DAY, NOW + 30 * DAY),
    )
    base.update(fields)
    return ProbeResult(**base)  # type: ignore[arg-type]


def dns(**fields: object) -> ProbeResult:
    base: dict[str, object] = dict(started_at=NOW, duration=0.02, dns_rcode="NOERROR",
                                   dns_answers=["10.0.0.1", "10.0.0.2"])
    base.update(fields)
    return ProbeResult(**base)  # type: ignore[arg-type]


PORTAL = http(
    headers={"content-type": "text/html"},
    body="<html><body><p>Une erreur technique est survenue, veuillez réessayer.</p></body></html>".encode(),
)
DOWN_JSON = http(body=b'{"status": "DOWN"}', status=503, duration=2.41)
REFUSED = ProbeResult(started_at=NOW, error="connection refused")

# (text, result, passed, a substring of the observation)
CASES = [
    ("status == 200", http(), True, "200"),
    ("status == 200", DOWN_JSON, False, "503"),
    ("status != 500", http(), True, "200"),
    ("status != 503", DOWN_JSON, False, "503"),
    ("status in [200, 204]", http(status=204), True, "204"),
    ("status in [200, 204]", DOWN_JSON, False, "503"),
    ("status not in [500, 502, 503]", DOWN_JSON, False, "503"),
    ("status < 400", http(), True, "200"),
    ("status < 400", DOWN_JSON, False, "503"),
    ("status == 200", dns(), False, "no HTTP status"),
    ("response_time < 2s", http(), True, "812ms"),
    ("response_time < 2s", DOWN_JSON, False, "2.41s"),
    ("response_time <= 1", http(), True, "812ms"),
    ("response_time < 500ms", http(), False, "812ms"),
    ("response_time < 0.5", http(), False, "812ms"),
    ("body contains 'UP'", http(), True, "body contains 'UP'"),
    ("body contains 'OK'", http(), False, "body contains no 'OK' ("),
    ("body not contains 'erreur technique'", http(), True, "contains no 'erreur technique'"),
    ("body not contains 'erreur technique'", PORTAL, False, "erreur technique"),
    ("body contains \"réessayer\"", PORTAL, True, "réessayer"),
    (r"body matches '^\s*\{'", http(), True, "body matches"),
    (r"body matches '^\s*\{'", PORTAL, False, "does not match"),
    ("body matches '(?i)INDISPONIBLE|erreur'", PORTAL, True, "erreur"),
    ("body not matches '(?i)indisponible|veuillez r.essayer'", PORTAL, False, "veuillez"),
    ("body not matches 'indisponible'", http(), True, "does not match"),
    ("body == 'pong'", http(body=b"pong"), True, "body is the expected text (4 bytes)"),
    ("body != 'pong'", http(body=b"pong"), False, "body is the expected text"),
    ("json .status == 'UP'", http(), True, "json .status = 'UP'"),
    ("json .status == 'UP'", DOWN_JSON, False, "json .status = 'DOWN'"),
    ("json .status != 'DOWN'", DOWN_JSON, False, "'DOWN'"),
    ("json .data.items[0].ok == true", http(), True, "= true"),
    ("json .data.items[1].ok == true", http(), False, "= false"),
    ("json .data.items[-1].ok == false", http(), True, "= false"),
    ("json .data.items[5].ok == true", http(), False, "json .data.items[5].ok not found"),
    ("json .count >= 3", http(), True, "= 3"),
    ("json .count > 3", http(), False, "= 3"),
    ("json .count < 'x'", http(), False, "= 3"),
    ("json .version in ['1', '2']", http(), True, "'2'"),
    ("json .version in [1, 2]", http(), False, "'2'"),
    ("json .version not in ['1', '2']", http(), False, "'2'"),
    ("json .note == null", http(), True, "null"),
    ("json .flag == true", http(), False, "= 1"),  # JSON 1 is not true
    ("json .tags contains 'b'", http(), True, '["a", "b"]'),
    ("json .tags == ['a', 'b']", http(), True, '["a", "b"]'),
    ("json .status contains 'U'", http(), True, "'UP'"),
    ("json .status matches '^U'", http(), True, "'UP'"),
    ("json .count matches '3'", http(), False, "= 3"),
    ("json .count contains 3", http(), False, "= 3"),
    ("json .status == 'UP'", PORTAL, False, "body is not JSON"),
    ("json .missing == 1", http(), False, "json .missing not found"),
    ("json .status.deeper == 1", http(), False, "not found"),
    ("header Content-Type contains 'json'", http(), True, "header Content-Type = 'application/json"),
    ("header Content-Type contains 'json'", PORTAL, False, "'text/html'"),
    ("header X-Status == 'green'", http(), True, "'green'"),
    ("header x-status == 'green'", http(headers={"X-Status": "green"}), True, "'green'"),
    ("header X-Status == 'green'", PORTAL, False, "no such header"),
    ("header X-Status != 'green'", PORTAL, False, "no such header"),
    ("header X-Status == null", PORTAL, True, "no such header"),
    ("header X-Status == null", http(), False, "'green'"),
    ("header X-Status != null", http(), True, "'green'"),
    ("header X-Status in ['green', 'amber']", http(), True, "'green'"),
    ("header X-Status matches '^gr'", http(), True, "'green'"),
    ("cert_expires_in > 14d", http(), True, "certificate expires in 30 days"),
    ("cert_expires_in > 14d", http(cert=CertInfo("s", "i", 0, NOW + 9.5 * DAY)), False,
     "certificate expires in 9 days"),
    ("cert_expires_in > 0", http(cert=CertInfo("s", "i", 0, NOW - 3 * DAY)), False,
     "certificate expired 3 days ago"),
    ("cert_expires_in > 1209600", http(), True, "30 days"),
    ("cert_expires_in > 14d", http(cert=None), False, "no certificate"),
    ("tls_version >= 1.2", http(), True, "TLS 1.3"),
    ("tls_version >= 1.2", http(tls_version="1.1"), False, "TLS 1.1"),
    ("tls_version > 1.9", http(tls_version="1.10"), True, "TLS 1.10"),
    ("tls_version == '1.3'", http(), True, "TLS 1.3"),
    ("tls_version == 1.3.0", http(), True, "TLS 1.3"),
    ("tls_version in [1.2, 1.3]", http(), True, "TLS 1.3"),
    ("tls_version >= 1.2", http(tls_version=None), False, "no TLS"),
    ("tls_version >= 1.2", http(tls_version="SSLv3"), False, "not comparable"),
    ("dns.answers contains '10.0.0.1'", dns(), True, "answers: 10.0.0.1, 10.0.0.2"),
    ("dns.answers contains 10.0.0.9", dns(), False, "answers: 10.0.0.1, 10.0.0.2"),
    ("dns.answers not contains '10.0.0.9'", dns(), True, "10.0.0.1"),
    ("dns.answers == ['10.0.0.2', '10.0.0.1']", dns(), True, "10.0.0.1"),
    ("dns.answers == ['10.0.0.1']", dns(), False, "10.0.0.2"),
    ("dns.answers != ['10.0.0.1']", dns(), True, "10.0.0.2"),
    ("dns.answers == 'pec.example.org'", dns(dns_answers=["pec.example.org."]), True, "pec.example.org"),
    ("dns.answers contains '10.0.0.1'", dns(dns_answers=[]), False, "no answers"),
    ("dns.rcode == NOERROR", dns(), True, "NOERROR"),
    ("dns.rcode == noerror", dns(), True, "NOERROR"),
    ("dns.rcode == NOERROR", dns(dns_rcode="NXDOMAIN"), False, "NXDOMAIN"),
    ("dns.rcode in [NOERROR, 'NXDOMAIN']", dns(dns_rcode="NXDOMAIN"), True, "NXDOMAIN"),
    ("dns.rcode != SERVFAIL", dns(dns_rcode="SERVFAIL"), False, "SERVFAIL"),
    ("dns.rcode == NOERROR", http(), False, "no DNS answer"),
    ("phase.dns < 100ms", http(), True, "dns 4ms"),
    ("phase.connect < 10ms", http(), False, "connect 12ms"),
    ("phase.tls < 1s", http(), True, "tls 30ms"),
    ("phase.first_byte < 500ms", http(), False, "first_byte 700ms"),
    ("phase.transfer <= 1m", http(), True, "transfer 60ms"),
    ("phase.tls < 1s", dns(), False, "no tls phase measured"),
    ("redirects <= 2", http(), True, "2 redirects"),
    ("redirects == 0", http(), False, "2 redirects"),
    ("connected == true", http(), True, "connected"),
    ("connected == true", REFUSED, False, "no answer: connection refused"),
    ("connected == false", REFUSED, True, "no answer: connection refused"),
    ("connected != true", REFUSED, True, "connection refused"),
    ("status == 200", REFUSED, False, "no answer: connection refused"),
    ("body not contains 'erreur'", REFUSED, False, "no answer: connection refused"),
    ("header X-Status == null", REFUSED, False, "no answer"),
    ("STATUS == 200", http(), True, "200"),
]


@pytest.mark.parametrize("text, result, passed, observed", CASES, ids=[f"{c[0]}|{c[2]}" for c in CASES])
def test_it_judges_every_form(text: str, result: ProbeResult, passed: bool, observed: str) -> None:
    verdict = parse_condition(text).evaluate(result, NOW)
    severity = "notice" if text.startswith("cert_expires_in") else "down"  # a certificate's expiry is a note
    assert verdict == Verdict(text, passed, severity, verdict.observed)
    assert observed in verdict.observed
    assert len(verdict.observed) <= 120


# (text, a substring of the message, position)
SYNTAX_ERRORS = [
    ("", "empty condition", 0),
    ("   ", "empty condition", 3),
    ("statuss == 200", "unknown field 'statuss' (expected one of: status, response_time, body", 0),
    ("  statuss == 200", "unknown field 'statuss'", 2),
    ("200 == status", "unknown field '200'", 0),
    ("phase.firstbyte < 1s", "unknown field 'phase.firstbyte'", 0),
    ("status contains 'x'", "operator 'contains' does not apply to status (use one of: ==, !=, <", 7),
    ("status matches '2..'", "operator 'matches' does not apply to status", 7),
    ("response_time in [1s]", "operator 'in' does not apply to response_time", 14),
    ("dns.answers < 3", "operator '<' does not apply to dns.answers", 12),
    ("connected < true", "operator '<' does not apply to connected", 10),
    ("response_time < 'abc'", "response_time expects a duration such as 500ms, 30s or 14d, got 'abc'", 16),
    ("cert_expires_in > 'x'", "cert_expires_in expects a duration", 18),
    ("cert_expires_in > 14", None, None),  # seconds: fine
    ("status == '200'", "status expects an integer, got '200'", 10),
    ("status == 2.5", "status expects an integer, got 2.5", 10),
    ("status == 2s", "status expects an integer, got 2s", 10),
    ("redirects > many", "redirects expects an integer, got many", 12),
    ("body contains OK", "body expects a quoted string, got OK", 14),
    ("body contains 200", "body expects a quoted string, got 200", 14),
    ("header X-Status == green", "header X-Status expects a quoted string, got green", 19),
    ("header X-Status contains null", "'contains' cannot take null", 25),
    ("json .status == UP", "json .status expects a JSON value, got UP", 16),
    ("json .count > true", "'>' cannot take true", 14),
    ("json .count > 2s", "json .count expects a JSON value, got 2s", 14),
    ("tls_version >= 'x'", "tls_version expects a version such as 1.2, got 'x'", 15),
    ("tls_version >= TLSv1", "tls_version expects a version such as 1.2, got TLSv1", 15),
    ("dns.rcode == 3", "dns.rcode expects a response code such as NOERROR, got 3", 13),
    ("connected == 1", "connected expects true or false, got 1", 13),
    ("status == 200 foo", "unexpected 'foo' after the condition", 14),
    ("status == 200 200", "unexpected '200' after the condition", 14),
    ("status == 200]", "unexpected ']' after the condition", 13),
    ("body contains 'OK", "unterminated string", 14),
    ('body contains "OK\\"', "unterminated string", 14),
    ("status ==", "missing value after '=='", 9),
    ("status ==   ", "missing value after '=='", 12),
    ("status not in", "missing value after 'not in'", 13),
    ("status", "expected an operator after 'status': ==, !=, <, <=, >, >=, in, not in", 6),
    ("status is 200", "expected an operator after 'status'", 7),
    ("body not has 'x'", "expected 'in', 'contains' or 'matches' after 'not'", 9),
    ("status = 200", "use '==' to compare", 7),
    ("status == @", "unexpected character '@'", 10),
    ("status == == 200", "expected a value, got '=='", 10),
    ("status in 200", "'in' expects a list such as [200, 204], got 200", 10),
    ("status == [200]", "'==' compares status with one value, not a list", 10),
    ("status in [200 204]", "expected ',' or ']' in the list", 15),
    ("status in [200, 204", "unclosed list: expected ']'", 19),
    ("status in [[200]]", "lists cannot be nested", 11),
    ("status in [200, 'x']", "status expects an integer, got 'x'", 16),
    ("body matches '('", "invalid regular expression '('", 13),
    ("header X matches 'a)'", "invalid regular expression", 17),
    ("body matches 42", "'matches' expects a quoted regular expression, got 42", 13),
    ("json status == 1", "expected a JSON path after 'json', e.g. json .status", 5),
    ("json", "expected a JSON path after 'json'", 4),
    ("header == 'x'", "expected a header name after 'header'", 7),
    ("response_time < 2x", "invalid duration '2x'", 16),
    ("response_time < 1.2.3s", "invalid duration '1.2.3s'", 16),
    ("status == " + "9" * 50, "number too long", 10),
    ("json .x == 1", None, None),
]


@pytest.mark.parametrize("text, message, position", SYNTAX_ERRORS, ids=[e[0] or "<empty>" for e in SYNTAX_ERRORS])
def test_it_reports_syntax_errors_with_exact_positions(text: str, message: str | None, position: int | None) -> None:
    if message is None:
        parse_condition(text)
        return
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    assert message in str(caught.value)
    assert caught.value.position == position


def test_it_names_verdicts_after_the_condition_or_its_name() -> None:
    named = parse_condition("response_time < 800ms", severity="degraded", name="portail rapide")
    verdict = named.evaluate(http(duration=1.2), NOW)
    assert verdict == Verdict("portail rapide", False, "degraded", "1.20s")
    assert parse_condition("status == 200").name == "status == 200"


def test_it_parses_when_built_directly() -> None:
    assert Condition("status == 200").evaluate(http(), NOW).passed
    with pytest.raises(ConditionSyntaxError):
        Condition("status ==")
    with pytest.raises(ValueError):
        Condition("status == 200", severity="broken")  # type: ignore[arg-type]


def test_it_stays_hashable_comparable_and_picklable() -> None:
    condition = parse_condition(r"body matches '^\s*\{'", severity="degraded", name="json")
    copy = pickle.loads(pickle.dumps(condition))
    assert copy == condition and hash(copy) == hash(condition)
    assert copy.evaluate(http(), NOW).passed
    assert {condition, parse_condition(r"body matches '^\s*\{'", severity="degraded", name="json")} == {condition}
    with pytest.raises(AttributeError):
        condition.text = "status == 200"  # type: ignore[misc]


def test_it_reads_string_escapes_and_keeps_regex_escapes() -> None:
    assert parse_condition(r"body contains 'l\'erreur'").evaluate(http(body=b"l'erreur"), NOW).passed
    assert parse_condition(r'body contains "a\"b\\c"').evaluate(http(body=b'a"b\\c'), NOW).passed
    assert parse_condition(r"body contains 'a\nb'").evaluate(http(body=b"a\nb"), NOW).passed
    assert parse_condition(r"body matches '\d{3}'").evaluate(http(body=b"code 503"), NOW).passed


def test_it_decodes_the_body_as_utf8_with_replacement() -> None:
    result = http(body=b"\xff\xfe indisponible \xe9")
    verdict = parse_condition("body not contains 'indisponible'").evaluate(result, NOW)
    assert not verdict.passed and "indisponible" in verdict.observed


def test_it_keeps_observations_short_on_huge_bodies() -> None:
    body = ("x" * 100_000 + " erreur technique " + "y" * 100_000).encode()
    for text in ("body not contains 'erreur technique'", "body contains 'absent'", "body matches 'erreur'",
                 "body == 'x'", "json . == 1", "header X == 'a'"):
        verdict = parse_condition(text).evaluate(http(body=body, headers={"x": "z" * 5000}), NOW)
        assert len(verdict.observed) <= 120, (text, verdict.observed)
    long_error = ProbeResult(started_at=NOW, error="e" * 1000)
    assert len(parse_condition("status == 200").evaluate(long_error, NOW).observed) == 120


def test_it_assesses_an_error_as_down_with_the_error_as_the_reason() -> None:
    conditions = [parse_condition("status == 200"), parse_condition("response_time < 1s", severity="degraded")]
    assessment = assess(REFUSED, conditions, NOW)
    assert assessment.outcome == "down"
    assert assessment.reasons == ["connection refused"]
    assert [v.passed for v in assessment.verdicts] == [False, False]


def test_it_assesses_only_degraded_failures_as_degraded() -> None:
    conditions = [parse_condition("status == 200"), parse_condition("response_time < 500ms", severity="degraded")]
    assessment = assess(http(), conditions, NOW)
    assert assessment.outcome == "degraded"
    assert assessment.reasons == ["response_time < 500ms: 812ms"]


def test_it_assesses_any_down_failure_as_down() -> None:
    conditions = [
        parse_condition("status == 200"),
        parse_condition("body not contains 'erreur technique'", name="pas d'erreur technique"),
        parse_condition("response_time < 500ms", severity="degraded"),
    ]
    assessment = assess(PORTAL, conditions, NOW)
    assert assessment.outcome == "down"
    assert assessment.reasons[0].startswith("pas d'erreur technique: body contains 'erreur technique'")
    assert assessment.reasons[1] == "response_time < 500ms: 812ms"


def test_it_assesses_all_passing_as_up() -> None:
    assessment = assess(http(), [parse_condition("status == 200"), parse_condition("json .status == 'UP'")], NOW)
    assert (assessment.outcome, assessment.reasons) == ("up", [])


def test_it_applies_the_implicit_status_rule_to_http_without_conditions() -> None:
    assert assess(http(status=302), [], NOW).outcome == "up"
    down = assess(http(status=500), [], NOW)
    assert (down.outcome, down.reasons) == ("down", ["status < 400: 500"])
    assert assess(dns(), [], NOW).outcome == "up"  # no status: no implicit rule
    assert assess(REFUSED, [], NOW).outcome == "down"
    assert assess(http(status=500), [parse_condition("status == 500")], NOW).outcome == "up"


# --- robustness ---------------------------------------------------------------------------------

VOCABULARY = [
    "status", "response_time", "body", "json", "header", "cert_expires_in", "tls_version", "dns.rcode",
    "dns.answers", "phase.connect", "redirects", "connected", ".a", ".a[0]", ".", "[0]", "X-Foo", "==", "!=",
    "<", "<=", ">", ">=", "in", "not", "contains", "matches", "[", "]", ",", "200", "2.5", "1.2.3", "2s",
    "14d", "3x", "-1", "'a'", '"b\\"', "'", "true", "false", "null", "NOERROR", "'('", "'^a'", "=", "@",
]
texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(VOCABULARY), max_size=7).map(" ".join),
    st.lists(st.sampled_from(VOCABULARY), max_size=7).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=8,
)
seconds = st.floats(allow_nan=True, allow_infinity=True)
results = st.builds(
    ProbeResult,
    started_at=seconds,
    duration=seconds,
    error=st.none() | st.text(max_size=300),
    phases=st.dictionaries(st.sampled_from(["dns", "connect", "tls", "first_byte", "transfer"]), seconds),
    status=st.none() | st.integers(),
    headers=st.dictionaries(st.sampled_from(["x-foo", "X-Foo", "content-type", "x"]), st.text(max_size=200)),
    body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
    body_truncated=st.booleans(),
    redirects=st.lists(st.text(max_size=5), max_size=3),
    tls_version=st.none() | st.sampled_from(["1.2", "1.3", "1.10", "SSLv3", "", "1..2"]),
    cert=st.none() | st.builds(CertInfo, subject=st.just("s"), issuer=st.just("i"), not_before=seconds,
                               not_after=seconds),
    dns_rcode=st.none() | st.sampled_from(["NOERROR", "nxdomain", ""]),
    dns_answers=st.lists(st.sampled_from(["10.0.0.1", "a.example.", "", "."]), max_size=3),
)
EVERY_FORM = [parse_condition(case[0]) for case in CASES] + [
    parse_condition(text) for text, message, _ in SYNTAX_ERRORS if message is None
]


@settings(max_examples=200, deadline=None)
@given(texts)
def test_it_parses_any_text_or_raises_a_positioned_syntax_error(text: str) -> None:
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError as error:
        assert 0 <= error.position <= len(text)
        assert str(error)
    else:
        assert condition.text == text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results, seconds)
def test_it_never_raises_when_evaluating_any_result(result: ProbeResult, now: float) -> None:
    for condition in EVERY_FORM:
        verdict = condition.evaluate(result, now)
        assert isinstance(verdict.passed, bool)
        assert len(verdict.observed) <= 120
        assert not verdict.observed.startswith("cannot evaluate"), (condition.text, verdict.observed)
        if result.error is not None and not condition.text.startswith("connected"):
            assert not verdict.passed
    assert assess(result, EVERY_FORM[:5], now).outcome in ("up", "degraded", "down")


@settings(max_examples=100, deadline=None)
@given(texts, results)
def test_it_never_raises_when_evaluating_random_conditions(text: str, result: ProbeResult) -> None:
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError:
        return
    verdict = condition.evaluate(result, NOW)
    assert not verdict.observed.startswith("cannot evaluate"), (text, verdict.observed)


def test_it_never_repeats_a_piece_of_the_body_in_what_it_saw() -> None:
    """Reasons are published: a body may be an internal page, a token — only the condition's own text is said."""
    secret = b"<html>internal admin: token=s3cr3t-AKIA1234 user=root</html>"
    for text in ("body contains 'admin'", "body matches 'token=\\w+'", "body == 'x'", "body contains 'absent'",
                 "body not contains 'token'", "body matches 'nothing here'"):
        observed = parse_condition(text).evaluate(http(body=secret), NOW).observed
        assert "s3cr3t" not in observed and "root" not in observed and "internal" not in observed, (text, observed)
