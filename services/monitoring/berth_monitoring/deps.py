"""Named dependencies of the monitoring API."""

from typing import Annotated

from fastapi import Depends, Request

from berth_monitoring.config import MonitoringSettings
from berth_monitoring.targets import TargetPolicy


def _settings(request: Request) -> MonitoringSettings:
    return request.app.state.settings


def _target_policy(request: Request) -> TargetPolicy:
    return request.app.state.target_policy


SettingsDep = Annotated[MonitoringSettings, Depends(_settings)]
TargetPolicyDep = Annotated[TargetPolicy, Depends(_target_policy)]
