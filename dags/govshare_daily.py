"""
### govshare_daily — pull every source for one day, land it raw, load it to staging

Runs once per local day (Asia/Shanghai) over the data interval `[00:00, next 00:00)`.
For each source kind configured in the sources file (`GOVSHARE_SOURCES`, see
`config/sources.example.yaml`): **extract** (incremental, into the immutable raw landing
zone, with a `shared.load_audit` row and quarantine rows for what cannot be landed), then
**validate_load**: the Great Expectations suite of the source (`expectations/rules/`)
checks the landed versions; those that pass are staged into `staging.record_version`
(with their warning flags), those failing a critical rule go to `shared.quarantine` with
the reason, and a batch failure (volume collapse, schema drift) fails the task and loads
nothing. Data Docs are rebuilt under `$GOVSHARE_HOME/data_docs`.
Then **resolve** links residents and units across all sources (exact on valid ID numbers and
credit codes, probabilistic with Splink otherwise) and publishes `shared.resident`,
`shared.unit` and their `*_xref` tables with stable ids; **publish** loads the latest state
of tickets, grid events and community workers into their shared tables (history kept), and
**check_freshness** fails the run when a source is staler than its configured limit.

- Re-running a day lands new attempts beside that day's landing parts (the landing zone is
  append-only: nothing is deleted or overwritten) and changes nothing else.
- `max_active_runs=1` with catchup: missed days run in order, so watermarks advance in order;
  `airflow backfill create --dag-id govshare_daily --from-date ... --to-date ...` re-runs a range.
- A source that is not configured is skipped, not failed.
"""

from __future__ import annotations

import os
from datetime import date

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task, task_group

LOCAL_TZ = "Asia/Shanghai"
START = pendulum.parse(os.environ.get("GOVSHARE_START_DATE", "2026-11-01"), tz=LOCAL_TZ)


def _window() -> tuple:
    context = get_current_context()
    tz = pendulum.timezone(LOCAL_TZ)
    start = context["data_interval_start"].in_timezone(tz)
    end = context["data_interval_end"].in_timezone(tz)
    return start, end, context["run_id"]


def _mask_personal_data(context) -> None:
    """Every task's on_execute_callback: ID and phone numbers are masked in what the task
    logs from then on, whichever logger writes them (Airflow's structlog chain and the
    stdlib handlers; common.masking.install_log_masking)."""
    from common.masking import install_log_masking

    install_log_masking()


@task(retries=3, retry_exponential_backoff=True)
def configured_sources(section: str) -> list[str]:
    """The sources one section of the sources file configures (one mapped extraction each);
    none (a section not configured) skips the group."""
    from airflow.sdk.exceptions import AirflowSkipException

    from common.sources import kinds
    from pipeline.config import load_sources

    [kind] = [k for k in kinds() if k.section == section]
    names = [source.name for source in kind.configured(load_sources())]
    if not names:
        raise AirflowSkipException(f"no {section} source configured")
    return names


@task(retries=3, retry_exponential_backoff=True, max_active_tis_per_dag=2)
def extract(source: str) -> dict:
    """Land `source`'s changes in the data interval (a configuration error fails at once)."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.config import ConfigError
    from pipeline.extraction import extract as run_extract

    since, until, run_id = _window()
    try:
        return run_extract(source, since, until, run_id)
    except ConfigError as error:
        raise AirflowFailException(str(error)) from error


@task(retries=2)
def validate_load(summary: dict) -> dict:
    """Validate the day's landed versions of one source; stage what passes, quarantine the
    rest. A held batch (volume collapse, schema drift) fails the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.staging import BatchHeldError, validate_and_load

    try:
        return validate_and_load(summary["source"], date.fromisoformat(summary["run_date"]),
                                 _window()[2])
    except BatchHeldError as held:
        raise AirflowFailException(f"batch held, nothing loaded: {held}") from held


@task(retries=2, trigger_rule="none_failed")  # a source that is not configured is skipped
def resolve() -> dict:
    """Resolve residents and units across every source's staged records (incrementally after
    the first run) and publish shared.resident / unit and their cross-references."""
    from pipeline.config import load_sources
    from pipeline.resolution import resolve as run_resolve

    _, _, run_id = _window()
    return run_resolve(load_sources(), run_id)


@task(retries=2)
def publish() -> dict:
    """Publish the day's latest state: shared.hotline_ticket, grid_event, community_worker
    (with history), resident and unit ids filled from the cross-references."""
    from pipeline.config import load_sources
    from pipeline.publication import publish as run_publish

    _, _, run_id = _window()
    return run_publish(load_sources(), run_id)


@task  # AirflowFailException skips the retries: staleness is not transient
def check_freshness() -> None:
    """Fail loudly when a source is staler than its `freshness_hours` limit."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.config import load_sources
    from pipeline.freshness import StaleSourceError
    from pipeline.freshness import check_freshness as run_check

    _, until, _ = _window()
    try:
        run_check(load_sources(), now=until)
    except StaleSourceError as stale:
        raise AirflowFailException(str(stale)) from stale


def _source_group(section: str):
    """One task group per section of the sources file: extract -> validate_load for each
    source it configures."""

    @task_group(group_id=section)
    def group():
        return validate_load.expand(summary=extract.expand(source=configured_sources(section)))

    return group()


@dag(
    dag_id="govshare_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=LOCAL_TZ),
    start_date=START,
    catchup=True,
    max_active_runs=1,
    tags=["govshare", "extract", "daily"],
    doc_md=__doc__,
    default_args={"owner": "data-engineering", "retries": 2,
                  "retry_delay": pendulum.duration(minutes=2),
                  "on_execute_callback": _mask_personal_data},
)
def govshare_daily():
    # The sections are read at parse time from the registry (common.sources), not from the
    # sources file, so the DAG's shape is the same everywhere it is parsed.
    from common.sources import kinds

    loaded = [_source_group(kind.section) for kind in kinds()]
    loaded >> resolve() >> publish() >> check_freshness()


govshare_daily()
