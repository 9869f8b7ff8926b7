"""Named dependencies of the monitoring API."""

from typing import Annotated

from fastapi import Depends, Request
from loguru import logger

from berth_common.errors import ServiceUnavailable
from berth_monitoring.alerts.delivery import Senders
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.targets import TargetPolicy


def _settings(request: Request) -> MonitoringSettings:
    return request.app.state.settings


def _target_policy(request: Request) -> TargetPolicy:
    return request.app.state.target_policy


SettingsDep = Annotated[MonitoringSettings, Depends(_settings)]
TargetPolicyDep = Annotated[TargetPolicy, Depends(_target_policy)]


def _senders(request: Request) -> Senders:
    # made on first use, so the service's other routes work without a channel key
    senders = getattr(request.app.state, "alert_senders", None)
    if senders is None:
        try:
            senders = Senders(request.app.state.settings, request.app.state.target_policy)
        except ValueError as exc:  # no usable MONITORING_CHANNEL_ENCRYPTION_KEY: an operator's fix
            logger.error("alert channels unavailable: {}", exc)
            raise ServiceUnavailable("Alert channels are not configured on this server") from None
        request.app.state.alert_senders = senders
    return senders


SendersDep = Annotated[Senders, Depends(_senders)]
