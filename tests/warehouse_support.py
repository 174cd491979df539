"""Small fixtures for the warehouse tests: a two-street reference and staged records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

CITY, DISTRICT = "150100000000", "150102000000"
STREET_A, STREET_B = "150102001000", "150102002000"
COMMUNITY_A, COMMUNITY_B = "150102001001", "150102002001"

DIVISIONS = pd.DataFrame({
    "code": [CITY, DISTRICT, STREET_A, STREET_B, COMMUNITY_A, COMMUNITY_B],
    "name": ["呼和浩特市", "新城区", "海拉尔东路街道", "锡林北路街道", "团结社区", "丰泽社区"],
    "level": ["city", "district", "street", "street", "community", "community"],
    "parent_code": [None, CITY, DISTRICT, DISTRICT, STREET_A, STREET_B],
})


def write_reference(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    DIVISIONS.to_csv(root / "divisions.csv", index=False)
    pd.DataFrame({"grid_code": [COMMUNITY_A + "001", COMMUNITY_B + "001"],
                  "community_code": [COMMUNITY_A, COMMUNITY_B], "name": ["第1网格"] * 2,
                  "grid_worker_staff_no": ["WG0001", "WG0002"]}).to_csv(
        root / "grids.csv", index=False)
    pd.DataFrame({"dept_code": ["CG01", "RL01"], "name": ["城管", "热力"],
                  "kind": ["city_department", "utility"]}).to_csv(
        root / "departments.csv", index=False)
    return root


def config_for(url: str, tmp_path: Path, **extra) -> dict:
    return {"warehouse_url": url, "landing_root": str(tmp_path / "landing"),
            "reference": {"root": str(write_reference(tmp_path / "reference"))}, **extra}


def ticket(ticket_id: str, updated_at: str, **fields) -> dict:
    record = {
        "ticket_id": ticket_id, "channel": "电话", "received_at": "2026-11-25T08:03:11+08:00",
        "type": "投诉", "urgency": "一般", "category_code": "0305",
        "category": "城乡建设/供热/供暖不热", "title": "供暖不热", "content": "来电人反映",
        "caller": {"name": "李秀英", "phone": "139 0471 2233", "id_number": None},
        "anonymous": False, "address_text": "新城区海拉尔东路街道团结社区团结小区3号楼",
        "lat": 40.8471, "lon": 111.6915, "district_code": DISTRICT,
        "street_code": STREET_A, "community_code": COMMUNITY_A, "status": "已派单",
        "dispatches": [{"dept_code": "RL01", "mode": "直派",
                        "dispatched_at": "2026-11-25T08:20:40+08:00",
                        "accepted_at": None, "returned_at": None, "return_reason": None}],
        "whistle": None, "first_contact_at": None, "resolved_at": None, "callback": None,
        "related_grid_event_id": None, "updated_at": updated_at,
    }
    record.update(fields)
    return record


def grid_event(event_id: str, updated_at: str, **fields) -> dict:
    record = {
        "event_id": event_id, "grid_code": COMMUNITY_B + "001", "reporter_staff_no": "WG0002",
        "reporter_name": "张海燕", "reported_at": "2026-11-25T09:41:07+08:00",
        "source": "巡查上报", "category_code": "0102", "category": "市容环境/暴露垃圾",
        "description": "垃圾未清运", "address_text": "新城区锡林北路街道丰泽社区东门",
        "lat": 40.84, "lon": 111.69,
        "persons": [{"name": "王建国", "id_number": "150102196503120038",
                     "phone": "13847112345", "role": "当事人"}],
        "units": [{"name": "某某物业服务有限公司", "uscc": None, "role": "责任单位"}],
        "status": "已上报", "deadline_at": None, "dispatched_dept_code": "CG01",
        "closed_at": None, "hotline_ticket_id": None, "updated_at": updated_at,
    }
    record.update(fields)
    return record


def stage(engine: sa.Engine, source: str, records: list[dict], key: str, run_id: str,
          landed_at: str = "2026-11-26T01:00:00+00:00") -> None:
    """Stage records as validate_and_load would (one version per distinct content)."""
    from pipeline.staging import stage_records

    raws = [json.dumps(r, ensure_ascii=False) for r in records]
    landed = pd.DataFrame({
        "raw": raws,
        "updated_at": [r.get("updated_at") for r in records],
        "_source_record_id": [str(r[key]) for r in records],
        "_content_hash": [hashlib.sha256(r.encode()).hexdigest() for r in raws],
        "_run_id": run_id,
        "_extracted_at": pd.Timestamp(landed_at),
    })
    if source == "rosters":
        landed = pd.DataFrame(records).assign(**{c: landed[c] for c in landed.columns
                                                 if c.startswith("_")})
    with engine.begin() as conn:
        stage_records(conn, source, landed)


def table(engine: sa.Engine, name: str, order: str) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY {order}")
        return pd.DataFrame(rows.all(), columns=list(rows.keys()))

