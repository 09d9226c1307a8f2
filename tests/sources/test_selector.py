import pytest

from sentinel.sources.selector import SelectorError, parse_selector


def test_name_and_all_four_matchers():
    s = parse_selector(
        'http_requests_total{code=~"5..", job="api", path!="/health", env!~`dev|test`}'
    )
    assert s.name == "http_requests_total"
    assert [(m.label, m.op, m.value) for m in s.matchers] == [
        ("code", "=~", "5.."),
        ("job", "=", "api"),
        ("path", "!=", "/health"),
        ("env", "!~", "dev|test"),
    ]
    labels = {"code": "503", "job": "api", "path": "/x", "env": "prod"}
    assert s.matches("http_requests_total", labels)
    assert not s.matches("http_requests_total", {**labels, "code": "5031"})  # anchored
    assert not s.matches("http_requests_total", {**labels, "env": "dev"})
    assert not s.matches("other_total", labels)


def test_name_by_matcher_and_absent_labels_are_empty():
    s = parse_selector('{__name__="up", job=""}')
    assert s.name == "up" and s.matches("up", {}) and not s.matches("up", {"job": "x"})
    regex_name = parse_selector('{__name__=~"rpc_.*_total"}')
    assert regex_name.matches("rpc_calls_total", {})


def test_quotes_and_escapes():
    s = parse_selector('m{a=\'x"y\', b="tab\\there", c=`raw\\d`}')
    assert [m.value for m in s.matchers] == ['x"y', "tab\there", "raw\\d"]


def test_with_name_keeps_matchers():
    s = parse_selector('rpc_seconds{job="api"}').with_name("rpc_seconds_bucket")
    assert str(s) == 'rpc_seconds_bucket{job="api"}'


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 1, "expected a metric name or '{'"),
        ("m{", 3, "expected a label name"),
        ('m{a="x"', 8, "missing '}'"),
        ('m{a~"x"}', 4, "expected one of =~, !~, !=, = after 'a'"),
        ("m{a=x}", 5, "expected a quoted string"),
        ('m{a="x}', 8, "unterminated string"),
        ('m{a="x" b="y"}', 9, "expected ',' or '}', got 'b'"),
        ('m{a=~"("}', 6, "bad regular expression '(': missing )"),
        ("m[5m]", 2, "unexpected '[' (ranges, offsets and functions are not allowed)"),
        ("rate(m[5m])", 5, "unexpected '(' (ranges, offsets and functions are not"),
        (
            '{a=~".*"}',
            1,
            "needs a metric name or a matcher that rejects the empty value",
        ),
        ('m{__name__="n"}', 1, "metric name given twice"),
        (r'm{a="\q"}', 6, "unknown escape \\q"),
    ],
)
def test_errors_name_the_selector_and_column(text, column, message):
    with pytest.raises(SelectorError) as info:
        parse_selector(text)
    assert info.value.column == column
    assert str(info.value).startswith(
        f"bad series selector {text!r} at column {column}: {message}"
    )
