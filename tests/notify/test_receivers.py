"""Webhook, Slack and log notifiers: the bodies they send and what they log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sentinel.alerts import AlertBook, AlertState
from sentinel.errors import ConfigError, NotifyError
from sentinel.notify.log import LogNotifier
from sentinel.notify.outbox import Outbox
from sentinel.notify.slack import SlackNotifier, slack_message
from sentinel.notify.webhook import WebhookNotifier, webhook_body
from sentinel.store import Store
from tests.harness.webhook import WebhookReceiver
from tests.notify.conftest import MIN, T0, alert, candidate, transition

SECRET_PATH = "services/T0000/B0000/s3cr3tt0ken"


def test_webhook_body_is_the_documented_one() -> None:
    body = webhook_body(alert(), "https://sentinel.example")
    assert body == {
        "version": "1",
        "status": "firing",
        "alert": {
            "name": "SLOBurnRateHigh",
            "fingerprint": candidate().fingerprint,
            "severity": "page",
            "labels": candidate().alert_labels(),
            "annotations": alert().annotations,
            "startsAt": "2026-03-02T09:58:00.000Z",
            "firedAt": "2026-03-02T10:00:00.000Z",
            "endsAt": None,
            "runbook_url": "https://runbooks.example/slo-burn-rate",
            "generatorURL": "https://sentinel.example/api/v1/slos/checkout",
            "explanation": "sli(checkout, 1h) ... by rule 'fast-burn-page'",
        },
    }
    resolved = webhook_body(alert(AlertState.RESOLVED))
    assert resolved["status"] == "resolved"
    assert resolved["alert"]["endsAt"] == "2026-03-02T10:30:00.000Z"
    assert resolved["alert"]["generatorURL"] is None


def test_webhook_gets_one_post_per_transition_with_headers(
    store: Store, webhook_receiver: WebhookReceiver
) -> None:
    hook = WebhookNotifier(
        webhook_receiver.url, name="hook", headers={"Authorization": "Bearer t0k"}
    )
    outbox = Outbox(store, [hook])
    book = AlertBook(store, outbox)
    for i, cands in enumerate([[candidate()]] * 3 + [[]] * 2):
        book.update(T0 + i * MIN, cands)
        outbox.deliver_due(T0 + i * MIN)
    assert [n["status"] for n in webhook_receiver.notifications] == [
        "firing",
        "resolved",
    ]
    _, headers, _ = webhook_receiver.requests[0]
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["Content-Type"] == "application/json"


def test_webhook_failure_names_the_notifier(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.status = 503
    hook = WebhookNotifier(webhook_receiver.url, name="hook")
    with pytest.raises(NotifyError, match=r"^hook: HTTP 503"):
        hook.send([webhook_body(alert())])


def test_slack_message_is_readable() -> None:
    text = slack_message(alert(), "https://sentinel.example")["text"]
    assert text.splitlines() == [
        "*FIRING* [page] SLOBurnRateHigh: checkout is burning its error budget",
        "slo `checkout` | service `shop` | tier `page-1h`",
        "burn rate 1h 20.5 and 5m 31.2 over 14.4",
        "<https://runbooks.example/slo-burn-rate|runbook>"
        " | <https://sentinel.example/api/v1/slos/checkout|SLO>",
    ]
    resolved = slack_message(alert(AlertState.RESOLVED))["text"].splitlines()
    assert resolved[0].startswith("*RESOLVED* [page] SLOBurnRateHigh")
    assert resolved[1].endswith("| fired for 30m")


def test_slack_escapes_markup_in_alert_text() -> None:
    a = alert(annotations={"summary": "p99 < 300ms & errors > 1%"})
    first = slack_message(a)["text"].splitlines()[0]
    assert first.endswith("p99 &lt; 300ms &amp; errors &gt; 1%")


def test_slack_posts_to_the_webhook_from_a_file(
    tmp_path: Path, store: Store, webhook_receiver: WebhookReceiver
) -> None:
    url_file = tmp_path / "slack-url"
    url_file.write_text(webhook_receiver.url + SECRET_PATH + "\n")
    slack = SlackNotifier(webhook_url_file=str(url_file))
    outbox = Outbox(store, [slack])
    AlertBook(store, outbox).update(T0, [candidate()])
    outbox.deliver_due(T0)
    (body,) = webhook_receiver.notifications
    assert body["text"].startswith("*FIRING* [page] SLOBurnRateHigh")
    assert webhook_receiver.requests[0][0] == "/" + SECRET_PATH


@pytest.mark.parametrize("failure", ["http", "refused"])
def test_slack_url_never_reaches_logs_errors_or_the_outbox(
    store: Store,
    webhook_receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    if failure == "http":
        webhook_receiver.status = 500
        url = webhook_receiver.url + SECRET_PATH
    else:
        url = "http://127.0.0.1:9/" + SECRET_PATH
    slack = SlackNotifier(url, timeout=2)
    assert SECRET_PATH not in repr(slack)
    outbox = Outbox(store, [slack])
    with caplog.at_level(logging.DEBUG, logger="sentinel"):
        AlertBook(store, outbox).update(T0, [candidate()])
        outbox.deliver_due(T0)
    assert outbox.stats.failed["slack"] == 1
    error = outbox.pending("slack")[0]["last_error"]
    assert error.startswith("slack: ")
    for text in (caplog.text, error, outbox.stats.last_error["slack"]):
        assert "s3cr3t" not in text


def test_slack_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="needs webhook_url or webhook_url_file"):
        SlackNotifier()
    with pytest.raises(ConfigError, match="cannot read the webhook URL file"):
        SlackNotifier(webhook_url_file="/nonexistent/slack-url")


def test_log_notifier_levels(caplog: pytest.LogCaptureFixture) -> None:
    notifier = LogNotifier()
    firing, resolved = alert(), alert(AlertState.RESOLVED)
    rows = notifier.outgoing(T0, [transition(firing), transition(resolved)], [])
    with caplog.at_level(logging.INFO, logger="sentinel.notify.log"):
        notifier.send([r.payload for r in rows])
    (fire, resolve) = caplog.records
    assert fire.levelno == logging.WARNING
    assert fire.getMessage() == (
        "alert SLOBurnRateHigh firing {service=shop,severity=page,slo=checkout,"
        "tier=page-1h}: checkout is burning its error budget "
        "[burn rate 1h 20.5 and 5m 31.2 over 14.4] "
        "(runbook https://runbooks.example/slo-burn-rate)"
    )
    assert resolve.levelno == logging.INFO
    assert "SLOBurnRateHigh resolved" in resolve.getMessage()


def test_log_notifier_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    LogNotifier().send(
        [r.payload for r in LogNotifier().outgoing(T0, [transition(alert())], [])]
    )
    assert capsys.readouterr() == ("", "")
