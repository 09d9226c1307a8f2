"""Notifiers and the outbox they are fed through.

Each evaluation, the alert book hands its transitions and alerts to the
:class:`Outbox`, which asks every :class:`Notifier` what to send and queues it in
the same transaction as the alert state; ``Outbox.deliver_due`` then sends.
"""

from sentinel.notify.alertmanager import AlertmanagerNotifier, alertmanager_cluster
from sentinel.notify.base import Notifier, Outgoing, Payload, TransitionNotifier
from sentinel.notify.log import LogNotifier
from sentinel.notify.outbox import DeliveryMetrics, Outbox, OutboxStats
from sentinel.notify.slack import SlackNotifier
from sentinel.notify.webhook import WebhookNotifier

__all__ = [
    "AlertmanagerNotifier",
    "DeliveryMetrics",
    "LogNotifier",
    "Notifier",
    "Outbox",
    "OutboxStats",
    "Outgoing",
    "Payload",
    "SlackNotifier",
    "TransitionNotifier",
    "WebhookNotifier",
    "alertmanager_cluster",
]
