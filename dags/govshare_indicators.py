"""
### govshare_indicators — the leadership's morning: indicators, the daily report, delivery

Scheduled on the Asset `govshare://warehouse/shared/published`, which the daily DAG's
**publish** task emits with the day it published (`{"day": "YYYY-MM-DD"}`). For that day:

1. **compute** every indicator of docs/spec/indicators.md into `shared.indicator_value`
   (`pipeline.indicators.compute_for_day`; a past day recomputed keeps the previous values
   and marks the changed ones `revised`);
2. **build_report**: the city's report (HTML with its font embedded, and a PDF) and its feeds
   (CSV, Parquet, JSON, manifest) under `reports.out/<day>/` (`reports.daily.build_day`);
3. **deliver** each recipient's report (its division's) by mail or webhook, retried with
   backoff, every attempt in `ops.delivery_attempt`; a recipient that still fails fails the
   task after all the others were served (a retry of the task sends only to those waiting).

**Deadline**: the report is due at 07:30 Asia/Shanghai (`pipeline.airflow_deadline.ReportDue`:
the next 07:30 after the run was queued); a run not done by then calls
`report_deadline_missed` (an error in the triggerer's log, and a POST to
`GOVSHARE_ALERT_WEBHOOK` where set).

**Any past day**: trigger the DAG with the parameter `day` (`airflow dags trigger
govshare_indicators --conf '{"day": "2026-11-14"}'`), or run `govshare report --date D`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from pipeline.airflow_deadline import PUBLISHED, report_deadline
from pipeline.dag_defaults import DEFAULT_ARGS, LOCAL_TZ


def _day() -> str:
    """The day this run is for: the `day` parameter, else the day the triggering publish
    emitted, else yesterday (local time)."""
    context = get_current_context()
    if context["params"].get("day"):
        return str(context["params"]["day"])
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in reversed(list(events)):
            if (event.extra or {}).get("day"):
                return str(event.extra["day"])
    return pendulum.now(LOCAL_TZ).subtract(days=1).to_date_string()


@task(retries=2)
def compute() -> str:
    """Compute every indicator of the day (and its month to date)."""
    from datetime import date

    from pipeline.config import load_sources
    from pipeline.indicators import compute_for_day

    day = _day()
    compute_for_day(load_sources(), date.fromisoformat(day))
    return day


@task(retries=2)
def build_report(day: str) -> dict:
    """The city's report and feeds for the day (refused loudly when it has no rows)."""
    from datetime import date

    from reports.daily import build_day

    return build_day(date.fromisoformat(day)).summary()


@task(retries=1)
def deliver(day: str) -> list[dict]:
    """Every recipient's report; fails after all were tried when one was not delivered."""
    from dataclasses import asdict
    from datetime import date

    from pipeline.config import load_sources
    from reports.daily import deliver_day, recipients_path

    config = load_sources(require_env=False)
    if recipients_path(config) is None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("no recipients file configured (reports.recipients)")
    run_id = get_current_context()["run_id"]
    return [asdict(o) for o in deliver_day(date.fromisoformat(day), run_id, config)]


@dag(
    dag_id="govshare_indicators",
    schedule=[PUBLISHED],
    start_date=pendulum.datetime(2026, 11, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    params={"day": Param(None, type=["null", "string"], format="date",
                         description="the day to compute and report (default: the day "
                                     "the daily DAG published)")},
    deadline=report_deadline(),
    tags=["govshare", "indicators", "report"],
    doc_md=__doc__,
    default_args=DEFAULT_ARGS,
)
def govshare_indicators():
    day = compute()
    built = build_report(day)
    built >> deliver(day)


govshare_indicators()
