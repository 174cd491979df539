"""Typed configuration: one pydantic model per file a person writes (the sources file, the
access file, the rule files) and per source section in them. Every key is declared here with
its type, default and meaning; an unknown key or a wrong type is an error. `check_file`
reports every problem of one file at once, each naming the file, the key and what was
expected.

The sources file's model is assembled from the source registry (common.sources): each
registered kind contributes its section with the settings model it declares
(common.settings_check.sources_file_model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class Settings(BaseModel):
    """Base of every settings model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- source sections ---------------------------------------------------------------------

MIB = 2 ** 20


class ParserLimits(Settings):
    """How much one delivered file (or one hotline page) may make a parser hold. A file over
    a limit is quarantined whole, naming the limit it broke; the rest of the drop loads.
    The defaults are far above what the contracts' sources deliver (a city's daily grid
    export is a few MB) and far below what would exhaust a worker (docs/landing.md)."""

    max_file_bytes: int = Field(128 * MIB, gt=0, description="a file's size as delivered "
                                "and once decompressed (gzip; a workbook's zip members); "
                                "the body of one REST page")
    max_items_per_file: int = Field(1_000_000, gt=0, description="lines of a JSON Lines "
                                    "file, rows of a CSV file, records of a hotline page")
    max_line_bytes: int = Field(1 * MIB, gt=0, description="one JSON line (a longer line "
                                "is quarantined, the file's copy keeps it)")
    max_json_depth: int = Field(64, gt=0, description="nesting of one JSON record (a "
                                "deeper one is quarantined)")
    max_workbook_rows: int = Field(200_000, gt=0, description="rows of one worksheet, up "
                                   "to its last used row")
    max_workbook_cells: int = Field(5_000_000, gt=0, description="cells of one workbook, "
                                    "up to each row's last used column")
    max_field_chars: int = Field(131_072, gt=0, description="one CSV field")
    max_rejects_per_file: int = Field(10_000, gt=0, description="broken lines quarantined "
                                      "one by one; a file with more is quarantined whole")


class SourceSettings(Settings):
    """Keys every source section or entry may carry, read by the pipeline itself."""

    conn_id: str | None = Field(None, description="take the URL / token from this Airflow "
                                "Connection instead of writing them here")
    freshness_hours: float | None = Field(None, gt=0, description="the DAG fails when this "
                                          "source's newest change is older")


class ParsedSourceSettings(SourceSettings):
    """A source whose deliveries a parser reads (files, JSON pages), bounded by limits.
    Department tables are not: their rows come typed from the database driver."""

    limits: ParserLimits = Field(default_factory=ParserLimits, description="this source's "
                                 "parser limits (the top-level `limits` section, with any key "
                                 "set here over it)")


class SqlTableSettings(SourceSettings):
    """One department table (contracts/departments.md), read through a read-only account."""

    table: str = Field(description="schema.table in the department database; also the "
                       "source name")
    key: str = Field(description="the table's primary-key column")
    url: str | None = Field(None, description="SQLAlchemy URL (or conn_id)")
    source: str | None = Field(None, description="source name, when it differs from table")
    updated_column: str = Field("updated_at", description="change-time column")
    overlap_seconds: int = Field(900, ge=0, description="re-read window for late commits; "
                                 "versions already landed are dropped")
    chunk_rows: int = Field(50_000, gt=0, description="rows per streamed chunk and part")
    timezone: str = Field("Asia/Shanghai", description="the department's local time: a "
                          "change time kept as text with an offset is read in it")


class RestSettings(ParsedSourceSettings):
    """The 12345 hotline's REST API (contracts/hotline.md), or an Open311 GeoReport v2
    `requests.json` endpoint (`dialect: open311`)."""

    base_url: str = Field(description="the API's base URL (or conn_id: host)")
    token: str | None = Field(None, description="bearer token (or conn_id: password)")
    dialect: Literal["govshare", "open311"] | None = Field(
        None, description="govshare (default): contracts/hotline.md; open311: GeoReport v2")
    page_size: int = Field(200, ge=1, description="records per page")
    timeout: tuple[float, float] = Field((5.0, 60.0), description="connect, read seconds")
    max_requests_per_second: float = Field(5.0, gt=0, description="client-side rate limit")
    max_retries: int = Field(8, ge=0, description="retries of one request (429, 5xx, "
                             "dropped or truncated responses)")
    backoff_base: float = Field(0.5, ge=0, description="first backoff, seconds (full jitter)")
    backoff_max: float = Field(60.0, ge=0, description="longest backoff, seconds")
    overlap_seconds: float = Field(300.0, ge=0, description="re-read window before the "
                                   "watermark")
    timezone: str = Field("Asia/Shanghai", description="of naive window bounds")

    @field_validator("timeout", mode="before")
    @classmethod
    def _connect_and_read(cls, value: Any) -> Any:
        """`5,60`, `[5, 60]` or one number for both."""
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, (int, float)):
            value = [value]
        if isinstance(value, (list, tuple)) and len(value) in (1, 2):
            return (value[0], value[-1])
        return value


class FileDropSettings(ParsedSourceSettings):
    """A drop folder a vendor or office puts files into: a local path or an fsspec URL."""

    root: str = Field(description="folder or fsspec URL (s3://bucket/prefix)")
    storage_options: dict[str, Any] = Field(default_factory=dict,
                                            description="fsspec options (endpoint, keys)")


class GridSettings(FileDropSettings):
    """The grid app's daily exports (contracts/grid.md)."""

    pattern: str | None = Field(
        None, description="glob of the export files under root (default grid/events_*.jsonl*)")
    lookback_days: int | None = Field(
        None, ge=0,
        description="only files dated this many days before the window (default: the whole drop)")


class RosterSettings(FileDropSettings):
    """The street offices' community-worker rosters (contracts/rosters.md)."""

    header_synonyms: dict[str, list[str]] = Field(
        default_factory=dict, description="extra header spellings per logical column")
    encodings: list[str] | None = Field(None, description="CSV encodings to try, in order")


# ---- the sources file --------------------------------------------------------------------

class ReferenceSettings(Settings):
    root: str = Field(description="folder of divisions.csv, grids.csv, departments.csv")


class CitySettings(Settings):
    """The city the pipeline serves (docs/cities.md). Its name and districts come from the
    reference divisions (divisions.csv, level city / district); the province, the other cities
    of the province and the districts' official names from GB/T 2260 by `division_root`."""

    division_root: str | None = Field(None, pattern=r"^\d{4}00$", description="the city's "
                                      "6-digit GB/T 2260 code (default: the code of the city "
                                      "row of divisions.csv)")
    name: str | None = Field(None, description="the city's official name (default: the city "
                             "row of divisions.csv)")
    area_codes: list[str] = Field(default_factory=list, description="telephone area codes; "
                                  "a bare 7-8 digit number is taken to be in the first one "
                                  "(none: it stays a bare local number)")
    aliases: dict[str, str] = Field(default_factory=dict, description="local abbreviations of "
                                    "the city and its districts: alias -> official name")
    districts: list[str] = Field(default_factory=list, description="district names besides "
                                 "those of divisions.csv and GB/T 2260")

    @field_validator("area_codes")
    @classmethod
    def _area_codes(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not (code.isdigit() and code.startswith("0")
                                               and 3 <= len(code) <= 4)]
        if bad:
            raise ValueError(f"area codes are 3-4 digits starting 0 (010, 020, 0755): {bad}")
        return value


class VolumeCheckSettings(Settings):
    """The batch volume rule: a batch far below the recent median is held."""

    runs: int = Field(7, ge=1, description="recent runs the median is taken over")
    min_runs: int = Field(3, ge=1, description="no check before this many runs")
    min_median: int = Field(50, ge=0, description="no check while the median is smaller")


class ReportSettings(Settings):
    """Where the daily report and feeds are written and who gets them (reports/)."""

    out: str | None = Field(None, description="folder of the reports and feeds (default "
                            "$GOVSHARE_HOME/reports)")
    recipients: str | None = Field(None, description="the recipients file (default "
                                   "$GOVSHARE_RECIPIENTS; none: nothing is delivered)")
    colour_by: str = Field("hotline.resolution_rate", description="the indicator the grid "
                           "of communities is coloured by")


class PipelineSettings(Settings):
    """The sources file's keys that are not a source section."""

    warehouse_url: str | None = Field(None, description="SQLAlchemy URL of the shared "
                                      "warehouse (default: $GOVSHARE_HOME/warehouse.duckdb)")
    landing_root: str | None = Field(None, description="the raw landing zone (default "
                                     "$GOVSHARE_HOME/landing)")
    data_docs_dir: str | None = Field(None, description="Great Expectations Data Docs "
                                      "(default $GOVSHARE_HOME/data_docs)")
    reference: ReferenceSettings | None = Field(None, description="reference tables")
    city: CitySettings | None = Field(None, description="the city served (area codes, local "
                                      "abbreviations)")
    volume_check: VolumeCheckSettings = Field(default_factory=VolumeCheckSettings)
    validation_slice_rows: int = Field(500_000, ge=1_000, description="a run's landed "
                                       "batch is validated and staged in slices of whole "
                                       "landed parts of at most this many rows (memory "
                                       "holds one slice: a full initial load of a register "
                                       "of millions stays bounded)")
    freshness_hours: dict[str, float] = Field(default_factory=dict, description="limits by "
                                              "source name, over those in the sections")
    limits: ParserLimits = Field(default_factory=ParserLimits, description="parser limits "
                                 "of every source (a section's own `limits` overrides keys)")
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings(),
                                    description="the daily report and its delivery")

    indicators_settings: str | None = Field(None, description="the indicator settings file "
                                            "(default: the spec's, as config/indicators.yaml writes them)")


# ---- the indicator settings file (config/indicators.yaml) ----------------------------------

class ContactLimits(Settings):
    """Hours from a ticket's receipt to its first contact (响应), by urgency."""

    urgent_hours: float = Field(2.0, gt=0, description="紧急 tickets")
    normal_hours: float = Field(24.0, gt=0, description="一般 tickets")


class ResolutionLimits(Settings):
    """Hours from a ticket's receipt to its resolution deadline, by urgency."""

    urgent_hours: float = Field(24.0, gt=0, description="紧急 tickets (24 h)")
    normal_hours: float = Field(168.0, gt=0, description="一般 tickets (7 days)")


class CompositeWeights(Settings):
    """hotline.composite_score = 100 × (response × w1 + resolution × w2 + satisfaction × w3)."""

    response: float = Field(0.10, ge=0, le=1, description="weight of the response rate")
    resolution: float = Field(0.45, ge=0, le=1, description="weight of the resolution rate")
    satisfaction: float = Field(0.45, ge=0, le=1, description="weight of the satisfaction rate")

    @model_validator(mode="after")
    def _sum_to_one(self):
        if abs(self.response + self.resolution + self.satisfaction - 1.0) > 1e-9:
            raise ValueError("the three weights must add up to 1")
        return self


class SatisfactionScores(Settings):
    """What each callback answer counts for in hotline.satisfaction_rate."""

    satisfied: float = Field(1.0, ge=0, le=1, description="满意")
    basically_satisfied: float = Field(0.9, ge=0, le=1, description="基本满意")
    dissatisfied: float = Field(0.0, ge=0, le=1, description="不满意")


class LinkMatching(Settings):
    """The pipeline's own matching of a grid event to a hotline ticket about the same problem
    at the same place (grid.hotline_linked, shared.grid_hotline_link)."""

    window_hours: float = Field(48.0, gt=0, description="largest time between the ticket's "
                                "receipt and the event's report")
    min_score: float = Field(0.75, ge=0, le=1, description="least combined similarity "
                             "(place and problem text) for a match")
    address_weight: float = Field(0.6, ge=0, le=1, description="share of the place "
                                  "similarity (same compound, or nearby) in the score; the "
                                  "rest is the problem text's")


class IndicatorSettings(Settings):
    """config/indicators.yaml: the city's choices for the indicators of docs/spec/indicators.md
    (the defaults are the spec's). The computed run records them in ops.indicator_run."""

    timezone: str = Field("Asia/Shanghai", description="local time the periods follow")
    contact_limit: ContactLimits = Field(default_factory=ContactLimits)
    resolution_limit: ResolutionLimits = Field(default_factory=ResolutionLimits)
    whistle_report_hours: float = Field(24.0, gt=0, description="a summoned department "
                                        "reports in time within this many hours of the whistle")
    composite_weights: CompositeWeights = Field(default_factory=CompositeWeights)
    satisfaction_scores: SatisfactionScores = Field(default_factory=SatisfactionScores)
    repeat_caller_days: int = Field(
        30, ge=1,
        description="days (ending on the period's last day) over which a resident's tickets count")
    repeat_caller_min_tickets: int = Field(3, ge=2, description="tickets that make a repeat caller")
    organizers_per_center: int = Field(
        2, ge=0, description="党建组织员 a community service center needs")
    linking: LinkMatching = Field(default_factory=LinkMatching)


# ---- the access file and the rule files ------------------------------------------------------

class DepartmentAccess(Settings):
    """One department's view of the shared tables (config/access.example.yaml)."""

    name: str | None = Field(None, description="the department's name (audit log, "
                             "who-can-see); default its key")
    role: str | None = Field(None, description="its PostgreSQL role (NOLOGIN); default "
                             "dept_<key>")
    tables: list[str] = Field(default_factory=list, description="有条件共享 (conditional) "
                              "tables granted as a whole")
    columns: list[str] = Field(default_factory=list, description="有条件共享 columns shown in "
                               "full, as table.column; every other one is masked")
    scope: list[str] = Field(default_factory=list, description="12-digit division codes of a "
                             "street or community office: row-level security limits its rows")


class AccessFile(Settings):
    """Who may see what in the shared warehouse (config/access.example.yaml)."""

    reader_role: str = Field("govshare_reader", description="owns the department views; "
                             "holds SELECT on the shared tables")
    departments: dict[str, DepartmentAccess] = Field(default_factory=dict)


class ColumnRule(Settings):
    type: Literal["text", "int", "date", "datetime"] = Field(description="as landed")
    required: bool = Field(False, description="a batch without it is held (schema drift)")


class RuleSpec(Settings):
    id: str = Field(description="<field>.<what>: unique in the file, named in quarantine")
    field: str | None = Field(None, description="the column it checks (or fields)")
    fields: list[str] | None = Field(None, description="the columns a multi-column rule "
                                     "checks")
    expectation: str = Field(description="a Great Expectations (or expectations/custom.py) "
                             "expectation type")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="its arguments")
    severity: Literal["critical", "warning", "batch"] = Field(
        description="critical: the record is quarantined; warning: staged with a flag; "
                    "batch: the whole batch is held")
    description: str = Field(description="what it checks, in words (shown in quarantine)")
    when: dict[str, Any] = Field(default_factory=dict, description="only rows whose columns "
                                 "equal these values")

    @model_validator(mode="after")
    def _one_of_field_or_fields(self) -> RuleSpec:
        if (self.field is None) == (self.fields is None):
            raise ValueError("a rule names exactly one of field / fields")
        return self


class VolumeRule(Settings):
    min_ratio: float = Field(0.6, ge=0, le=1, description="a batch below this share of the "
                             "recent median is held")


class HoldRule(Settings):
    """When a critical rule fails for most of a batch, the rule or the source is broken:
    the batch is held loudly instead of quarantining it row by row."""

    max_failing_share: float = Field(0.2, gt=0, le=1, description="hold the batch when one "
                                     "critical rule fails for more than this share of rows")
    min_rows: int = Field(20, ge=1, description="batches smaller than this are judged row by "
                          "row (a few bad rows of a small increment are not a batch problem)")


class RulesFile(Settings):
    """One source's validation suite (expectations/rules/<source>.yaml)."""

    source: str = Field(description="the source name it validates")
    key: str = Field(description="the record key column")
    version: str = Field(description="the change-time column (one content per key and time)")
    columns: dict[str, ColumnRule] = Field(description="the columns as landed")
    volume: VolumeRule = Field(default_factory=VolumeRule)
    hold: HoldRule = Field(default_factory=lambda: HoldRule())
    personal_data: dict[str, Literal["name", "phone", "id"]] = Field(
        default_factory=dict, description="columns masked in Data Docs and quarantine views")
    patterns: dict[str, str] = Field(default_factory=dict, description="regular expressions "
                                     "named once and used through YAML anchors")
    rules: list[RuleSpec]


# ---- errors ------------------------------------------------------------------------------

class SettingsError(ValueError):
    """A settings file with problems: every one of them, each naming file, key, expectation."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path, self.problems = str(path), problems
        super().__init__(f"{path}: {len(problems)} problem(s):\n"
                         + "\n".join(f"  {p}" for p in problems))


def problems_of(error: ValidationError) -> list[str]:
    """pydantic's errors as `key.path: what was expected (got ...)` lines."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"{where}: required key missing")
        else:
            lines.append(f"{where}: {item['msg']} (got {item.get('input')!r:.60})")
    return lines


def validate(model: type[Settings], data: Any, path: str | Path) -> Settings:
    """`data` as `model`, or a SettingsError listing every problem."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise SettingsError(path, problems_of(error)) from None


# ---- the report's recipients file (reports.delivery) --------------------------------------

class SmtpSettings(Settings):
    """The mail server reports are sent through. The password is never written here: name
    the environment variable that holds it."""

    host: str = Field(description="SMTP server host")
    port: int = Field(25, gt=0, lt=65536)
    sender: str = Field(description="From: address")
    username: str | None = Field(None, description="log in as this user (with password_env)")
    password_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                     description="environment variable holding the password")
    starttls: bool = Field(False, description="upgrade the connection with STARTTLS")
    ssl: bool = Field(False, description="connect with TLS from the start (port 465)")
    timeout_seconds: float = Field(30.0, gt=0)


class DeliveryRetry(Settings):
    """How often one recipient's delivery is tried, with exponential backoff between tries."""

    attempts: int = Field(4, ge=1, le=10, description="tries per recipient, the first included")
    initial_seconds: float = Field(2.0, ge=0, description="wait after the first failure")
    max_seconds: float = Field(60.0, ge=0, description="longest wait between two tries")


class Recipient(Settings):
    """One recipient: mail addresses or a webhook, and the division whose report it gets."""

    name: str = Field(min_length=1, description="shown in the audit table and the summary")
    division: str | None = Field(None, pattern=r"^[0-9]{12}$", description="the division's "
                                 "12-digit code (a district's leadership gets its district); "
                                 "default: the whole city")
    email: list[str] = Field(default_factory=list, description="To: addresses")
    webhook: str | None = Field(None, pattern=r"^https?://", description="URL the day's "
                                "numbers are POSTed to as JSON")
    webhook_token_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                          description="environment variable holding a bearer "
                                          "token for the webhook")
    report: Literal["inline", "attachment"] = Field(
        "inline", description="mail: the HTML report as the body or as an attachment")
    attach_pdf: bool = Field(True, description="mail: attach the PDF too")

    @model_validator(mode="after")
    def _one_channel(self):
        if bool(self.email) == bool(self.webhook):
            raise ValueError("give either email addresses or a webhook, not both or neither")
        return self


class RecipientsFile(Settings):
    """The recipients file (config/recipients.example.yaml documents it)."""

    smtp: SmtpSettings | None = None
    retry: DeliveryRetry = Field(default_factory=DeliveryRetry)
    recipients: list[Recipient] = Field(min_length=1)

    @model_validator(mode="after")
    def _smtp_for_mail(self):
        if self.smtp is None and any(r.email for r in self.recipients):
            raise ValueError("mail recipients need an smtp section")
        names = [r.name for r in self.recipients]
        if len(names) != len(set(names)):
            raise ValueError("recipient names must be unique")
        return self
