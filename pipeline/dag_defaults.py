"""What every govshare DAG shares: the local time zone and the default task arguments (owner,
retries, and log masking installed as each task starts).

Imported at DAG parse time: only the standard library at module level.
"""

from __future__ import annotations

from datetime import timedelta

LOCAL_TZ = "Asia/Shanghai"


def mask_personal_data(context) -> None:
    """Every task's on_execute_callback: ID and phone numbers are masked in what the task
    logs from then on, whichever logger writes them (Airflow's structlog chain and the
    stdlib handlers; common.masking.install_log_masking)."""
    from common.masking import install_log_masking

    install_log_masking()


DEFAULT_ARGS = {"owner": "data-engineering", "retries": 2, "retry_delay": timedelta(minutes=2),
                "on_execute_callback": mask_personal_data}
