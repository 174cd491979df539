"""What the indicators DAG needs from Airflow beyond wiring: the Asset the daily DAG's publish
step emits, the deadline of the morning report (07:30 Asia/Shanghai) as an Airflow 3
DeadlineAlert reference, the callback that alerts when it is missed, and the plugin that
lets the scheduler find the reference (registered through the `airflow.plugins` entry point
in pyproject.toml).

Why a custom reference: an Asset-triggered run has no logical date (Airflow 3 creates it
with logical_date=None), and the built-in DAGRUN_QUEUED_AT + interval would move the deadline
with the time the daily DAG happens to finish. `ReportDue` turns the run's queue time into
the next 07:30 local time: a run queued at 01:40 is due at 07:30 that morning; a re-run of
a past day started at 14:00 is due at 07:30 the next morning (no alert for an intended
re-run in the afternoon).

Imported at DAG parse time: only the standard library and airflow.sdk at module level.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import Asset
from airflow.sdk.definitions.deadline import (
    AsyncCallback,
    BaseDeadlineReference,
    DeadlineAlert,
    DeadlineReference,
    deadline_reference,
)

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
REPORT_DUE = time(7, 30)
# The daily DAG's publish task emits it with {"day": "YYYY-MM-DD"} once the shared tables
# hold the day; the indicators DAG is scheduled on it.
PUBLISHED = Asset("govshare://warehouse/shared/published", group="govshare")


def report_due(queued_at: datetime) -> datetime:
    """The next 07:30 local time at or after `queued_at` (aware)."""
    local = queued_at.astimezone(LOCAL_TZ)
    due = datetime.combine(local.date(), REPORT_DUE, tzinfo=LOCAL_TZ)
    return due if local <= due else due + timedelta(days=1)


@deadline_reference(DeadlineReference.TYPES.DAGRUN_QUEUED)
@dataclass
class ReportDue(BaseDeadlineReference):
    """Deadline reference: 07:30 Asia/Shanghai after the run was queued."""

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session, **kwargs) -> datetime | None:
        import sqlalchemy as sa
        from airflow.models import DagRun

        queued = session.scalar(sa.select(DagRun.queued_at).where(
            DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"]))
        return None if queued is None else report_due(queued)


async def report_deadline_missed(**kwargs) -> None:
    """The missed-deadline alert (run by the triggerer): an error in the log, and a JSON POST
    to GOVSHARE_ALERT_WEBHOOK where that is set."""
    message = (f"govshare: the leadership report was not out by {REPORT_DUE:%H:%M} "
               f"{LOCAL_TZ.key} ({kwargs.get('dag_id', 'govshare_indicators')})")
    log.error(message)
    url = os.environ.get("GOVSHARE_ALERT_WEBHOOK")
    if url:
        import asyncio

        body = json.dumps({"text": message, **{k: str(v) for k, v in kwargs.items()}},
                          ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)


def report_deadline() -> DeadlineAlert:
    return DeadlineAlert(reference=ReportDue(), interval=timedelta(0),
                         callback=AsyncCallback(report_deadline_missed,
                                                kwargs={"dag_id": "govshare_indicators"}),
                         name="report out by 07:30 Asia/Shanghai")


def _plugin():
    from airflow.plugins_manager import AirflowPlugin

    class GovsharePlugin(AirflowPlugin):
        """Registers the report's deadline reference with the scheduler."""

        name = "govshare"
        deadline_references = [ReportDue]

    return GovsharePlugin


def __getattr__(name: str):
    # The plugin class is made on first use: airflow.plugins_manager is not imported when a
    # DAG file is parsed, only when the entry point is loaded.
    if name == "GovsharePlugin":
        return _plugin()
    raise AttributeError(name)
