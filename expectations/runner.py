"""Validate one landed batch of one source with Great Expectations 1.x.

`validate_landed` builds the source's suite from its rule file (`expectations/rules/*.yaml`),
runs it in **one** `validate` call on the checked frame (expectations/flatten.py), and sorts
the landed rows by the severities of the rules they fail:

- `critical`: the row goes to quarantine with every failed critical rule in words;
- `warning`: the row loads, its `_warnings` naming the rules;
- `batch`: nothing of the batch loads and `batch_failures` says why (volume collapse, schema
  drift on a required field, a rule that could not run).

Which rows failed: GX reports up to `PARTIAL_ROWS` failing `_row` numbers per rule in the
SUMMARY result. When a rule fails more rows than that, the rows come from the same vectorised
condition the expectation ran (the metric provider's own function for the custom ones),
checked against GX's unexpected count: GX's COMPLETE format looks each failing row up one by
one (about 150 µs a row), which would dominate a batch with many failures.

Data Docs: the result is masked (ID numbers, phones, names in sample values) and kept as the
source's latest result under `docs_dir/_latest/`; the site in `docs_dir` is then rebuilt from
every source's latest result, so `docs_dir/index.html` always shows each suite's last run.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from common.reference import Reference
from common.settings import RulesFile, SettingsError, validate
from common.sources import rules_file
from transforms.records import ROW, checked_frame, rows_as_json

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "warning", "batch")
PARTIAL_ROWS = 20
DOCS_SITE = "govshare"
LATEST = "_latest"
WARNINGS = "_warnings"
QUARANTINE_COLUMNS = ["source_record_id", "raw_location", "reason", "raw", "rules", "severity",
                      "landed_record"]


class RuleFileError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    fields: tuple[str, ...]
    expectation: str
    kwargs: dict
    severity: str
    description: str
    when: dict

    def words(self) -> str:
        """The rule in words for a reason: id, field(s), description (never a value)."""
        return f"{self.id} ({', '.join(self.fields)}): {self.description}"


@dataclass(frozen=True)
class RuleSet:
    source: str
    key: str
    version: str
    columns: dict
    volume: dict
    personal_data: dict
    rules: tuple[Rule, ...]
    hold: dict = field(default_factory=dict)

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def read_columns(self, available) -> list[str]:
        """The columns of a checked frame that some rule reads (missing ones left out: their
        `column_exists` rule reports them)."""
        wanted = {ROW}
        for rule in self.rules:
            wanted.update(rule.fields)
            wanted.update(rule.when)
            for name in ("column", "column_A", "column_B"):
                if isinstance(rule.kwargs.get(name), str):
                    wanted.add(rule.kwargs[name])
            wanted.update(rule.kwargs.get("column_list") or [])
        return [c for c in available if c in wanted]

    @property
    def time_columns(self) -> list[str]:
        return [c for c, spec in self.columns.items() if spec.get("type") in ("date", "datetime")]


def has_rules(source: str) -> bool:
    return rules_file(source).exists()


def load_rules(source: str) -> RuleSet:
    """The source's rule file, checked against its model (common.settings.RulesFile); read
    again when the file changes (a corrected rule takes effect at the next validation)."""
    path = rules_file(source)
    if not path.exists():
        raise RuleFileError(f"no rule file for source {source!r} ({path})")
    return _load_rules(path, path.stat().st_mtime_ns)


@cache
def _load_rules(path: Path, version: int) -> RuleSet:
    try:
        spec = validate(RulesFile, yaml.safe_load(path.read_text(encoding="utf-8")), path)
    except SettingsError as error:
        raise RuleFileError(str(error)) from None
    rules, seen = [], set()
    for item in spec.rules:
        if item.id in seen:
            raise RuleFileError(f"{path.name}: rule {item.id!r} is a duplicate id")
        seen.add(item.id)
        kwargs = dict(item.kwargs)
        if item.field is not None:
            kwargs.setdefault("column", item.field)
        rules.append(Rule(id=item.id, fields=tuple([item.field] if item.field is not None
                                                   else item.fields),
                          expectation=item.expectation, kwargs=kwargs,
                          severity=item.severity, description=item.description,
                          when=dict(item.when)))
    volume_rule = Rule(
        id="batch.volume", fields=("(row count)",),
        expectation="expect_table_row_count_to_be_within_history_band",
        kwargs={"min_ratio": spec.volume.min_ratio},
        severity="batch",
        description="the batch holds at least the configured share of the recent median "
                    "volume (a source silently delivering part of its data)", when={})
    schema_rules = [Rule(id=f"{name}.column_exists", fields=(name,),
                         expectation="expect_column_to_exist", kwargs={"column": name},
                         severity="batch", description=f"the landed batch has the required "
                                                       f"column {name} (schema drift otherwise)",
                         when={})
                    for name, column in spec.columns.items() if column.required]
    return RuleSet(source=spec.source, key=spec.key, version=spec.version,
                   columns={name: column.model_dump() for name, column in spec.columns.items()},
                   volume=spec.volume.model_dump(), personal_data=dict(spec.personal_data),
                   rules=tuple([volume_rule, *schema_rules, *rules]), hold=spec.hold.model_dump())


# --------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------


@cache
def _gx():
    """Great Expectations and the expectation classes, imported once (the import costs ~3 s)
    and with the custom expectations registered before any suite is built."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.registry import get_expectation_impl

    import expectations.custom
    import expectations.lists  # noqa: F401  (registers expect_column_list_values_to_be_in_set)

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    definition = context.data_sources.add_pandas("landed").add_dataframe_asset("batch") \
        .add_batch_definition_whole_dataframe("whole")
    return gx, context, definition, get_expectation_impl


def _resolve(value, reference: Reference):
    """A rule argument with `{reference: NAME}` and `today` filled in; an ISO date becomes a
    datetime (GX compares datetime64 columns with datetimes, vectorised)."""
    if isinstance(value, dict) and set(value) == {"reference"}:
        return reference.value_set(value["reference"])
    if value == "today":
        return datetime.combine(date.today(), datetime.min.time())
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return datetime.fromisoformat(value)
    return value


def _condition(when: dict):
    from great_expectations.expectations.row_conditions import Column

    condition = None
    for column, value in when.items():
        part = Column(column) == value
        condition = part if condition is None else condition & part
    return condition


def build_suite(ruleset: RuleSet, reference: Reference, recent_counts: list[int] | None,
                batch_rows: int | None = None):
    """The GX suite of a rule set: one expectation per rule, the rule's id and severity in
    its meta, reference lists and the volume history filled in (with `batch_rows`, the
    whole batch's count, when the frame validated is one slice of the batch)."""
    gx, _, _, expectation_impl = _gx()
    expectations = []
    for rule in ruleset.rules:
        kwargs = {k: _resolve(v, reference) for k, v in rule.kwargs.items()}
        if rule.id == "batch.volume":
            kwargs["recent_counts"] = [int(c) for c in recent_counts or []]
            kwargs["batch_rows"] = batch_rows
        if rule.when:
            kwargs["row_condition"] = _condition(rule.when)
        cls = expectation_impl(rule.expectation)
        expectations.append(cls(**kwargs, meta={"rule_id": rule.id, "severity": rule.severity,
                                                "description": rule.description}))
    return gx.ExpectationSuite(name=ruleset.source, expectations=expectations)


# --------------------------------------------------------------------------------------------
# Failing rows
# --------------------------------------------------------------------------------------------

_CUSTOM_PROVIDERS = {
    "expect_column_values_to_be_valid_resident_id": "ColumnValuesValidResidentId",
    "expect_column_values_to_be_valid_uscc": "ColumnValuesValidUscc",
    "expect_column_values_to_be_valid_chinese_phone": "ColumnValuesValidChinesePhone",
    "expect_column_values_to_be_known_division_code": "ColumnValuesKnownDivisionCode",
}
_NOT_CONDITION_KWARGS = {"column", "mostly", "row_condition", "condition_parser", "meta",
                         "result_format"}


def _domain(frame: pd.DataFrame, when: dict) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in when.items():
        mask &= (frame[column] == value).fillna(False).to_numpy(dtype=bool)
    return mask


def _holds(values: pd.Series, rule: Rule, kwargs: dict) -> np.ndarray:
    """Where a column-map condition holds for non-null `values` (the expectation's own test)."""
    kind = rule.expectation
    if kind in _CUSTOM_PROVIDERS or kind == "expect_column_list_values_to_be_in_set":
        import expectations.custom as custom
        import expectations.lists as lists

        provider = getattr(custom, _CUSTOM_PROVIDERS[kind]) if kind in _CUSTOM_PROVIDERS \
            else lists.ColumnListValuesInSet
        arguments = {k: v for k, v in kwargs.items() if k not in _NOT_CONDITION_KWARGS}
        condition = inspect.unwrap(provider._pandas)  # the function the metric itself runs
        return np.asarray(condition(provider, values, **arguments), dtype=bool)
    if kind == "expect_column_values_to_be_in_set":
        return values.isin(kwargs["value_set"]).to_numpy(dtype=bool)
    if kind == "expect_column_values_to_match_regex":
        return values.astype(str).str.contains(kwargs["regex"]).to_numpy(dtype=bool)
    if kind == "expect_column_values_to_be_between":
        ok = np.ones(len(values), dtype=bool)
        if kwargs.get("min_value") is not None:
            ok &= (values >= kwargs["min_value"]).to_numpy(dtype=bool)
        if kwargs.get("max_value") is not None:
            ok &= (values <= kwargs["max_value"]).to_numpy(dtype=bool)
        return ok
    if kind == "expect_column_value_lengths_to_be_between":
        lengths = values.astype(str).str.len()
        return ((lengths >= kwargs.get("min_value", 0))
                & (lengths <= kwargs.get("max_value", np.inf))).to_numpy(dtype=bool)
    raise RuleFileError(f"rule {rule.id}: no row-level condition for {kind}")


def failing_mask(frame: pd.DataFrame, rule: Rule, reference: Reference) -> np.ndarray:
    """Boolean mask of the rows of `frame` that fail `rule`, vectorised."""
    kwargs = {k: _resolve(v, reference) for k, v in rule.kwargs.items()}
    domain = _domain(frame, rule.when)
    kind = rule.expectation
    if kind == "expect_compound_columns_to_be_unique":
        subset = frame[kwargs["column_list"]]
        present = subset.notna().any(axis=1).to_numpy(dtype=bool)
        return domain & present & subset.duplicated(keep=False).to_numpy(dtype=bool)
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = frame[kwargs["column_A"]], frame[kwargs["column_B"]]
        both = (a.notna() & b.notna()).to_numpy(dtype=bool)
        greater = (a >= b) if kwargs.get("or_equal") else (a > b)
        return domain & both & ~greater.fillna(False).to_numpy(dtype=bool)
    values = frame[kwargs["column"]]
    present = values.notna().to_numpy(dtype=bool)
    if kind == "expect_column_values_to_not_be_null":
        return domain & ~present
    if kind == "expect_column_values_to_be_null":
        return domain & present
    mask = np.zeros(len(frame), dtype=bool)
    checked = np.flatnonzero(domain & present)
    mask[checked] = ~_holds(values.iloc[checked], rule, kwargs)
    return mask


def _held_by_share(source: str, ruleset: RuleSet, rule: Rule, frame: pd.DataFrame,
                   rows: np.ndarray) -> str | None:
    """The batch failure when a critical rule fails for more than the rules file's
    `hold.max_failing_share` of a batch: the rule, the share and three examples, masked."""
    limit, min_rows = ruleset.hold["max_failing_share"], ruleset.hold["min_rows"]
    if rule.severity != "critical" or len(frame) < min_rows or \
            len(rows) <= limit * len(frame):
        return None
    shown = [f for f in rule.fields if f in frame.columns]
    examples = []
    for position in rows[:3].tolist():
        values = ", ".join(
            f"{f}={_masker(ruleset.personal_data.get(f, ''))(str(frame[f].iloc[position]))!r}"
            for f in shown)
        examples.append(f"row {position + 1}: {values}")
    return (f"{source}: batch held: critical rule {rule.words()} fails for "
            f"{len(rows):,} of {len(frame):,} rows ({len(rows) / len(frame):.0%}, more than "
            f"{limit:.0%}): a broken rule or a broken source, not {len(rows):,} bad records; "
            f"e.g. {'; '.join(examples)}. Nothing was loaded or quarantined; fix the cause, "
            "then release the batch (govshare batch release)")


def _failing_rows(frame: pd.DataFrame, rule: Rule, result: dict,
                  reference: Reference) -> np.ndarray:
    count = int(result.get("unexpected_count") or 0)
    # The checked frame's index is its row number, which GX reports for failing rows.
    partial = [row[ROW] if isinstance(row, dict) else int(row)
               for row in result.get("partial_unexpected_index_list") or []]
    if count <= len(partial):
        return np.asarray(partial, dtype=np.int64)
    rows = np.flatnonzero(failing_mask(frame, rule, reference))
    if len(rows) != count:
        raise RuntimeError(f"rule {rule.id}: GX counted {count} failing rows, the vectorised "
                           f"condition {len(rows)}; the rule's condition and its expectation "
                           "disagree")
    return rows


# --------------------------------------------------------------------------------------------
# Masking for Data Docs
# --------------------------------------------------------------------------------------------

def _masker(kind: str):
    from common import masking

    return {"id": masking.mask_id, "phone": masking.mask_phone,
            "name": masking.mask_name}.get(kind, masking.mask_text)


# GX's Data Docs put some values into the page as HTML as they are (the table of unexpected
# values: `<svg onload=...>` in a roster cell ran in the browser) and escape others
# (template parameters). Markup characters become their full-width forms, which read the
# same and are inert on either path (HTML-escaping here would show "&lt;" where GX escapes
# again).
_MARKUP = str.maketrans({"<": "＜", ">": "＞", "&": "＆", '"': "＂", "'": "＇"})


def _mask_value(value, kind: str | None):
    from common.masking import mask_text

    if isinstance(value, (list, tuple)):
        return [_mask_value(v, kind) for v in value]
    if isinstance(value, dict):
        return {k: _mask_value(v, kind) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    return (_masker(kind)(value) if kind else mask_text(value)).translate(_MARKUP)


def mask_result(result, ruleset: RuleSet) -> None:
    """Mask personal data in every value of a suite result that came from the data, in
    place, and make it inert in HTML: the rule's own field by its kind (ID, phone, name),
    any other text by pattern (IDs, phones)."""
    for item in result.results:
        column = item.expectation_config.kwargs.get("column")
        kind = ruleset.personal_data.get(column)
        details = item.result or {}
        for name in ("unexpected_list", "unexpected_index_list"):
            details.pop(name, None)
        for name, value in details.items():
            if name == "partial_unexpected_index_list":  # row numbers, keys by their field
                details[name] = [{k: _mask_value(v, ruleset.personal_data.get(k))
                                  for k, v in entry.items()} if isinstance(entry, dict)
                                 else entry for entry in value or []]
            else:  # sample values and their counts, observed values, explanations
                details[name] = _mask_value(value, kind)
        if item.exception_info:
            item.exception_info = _mask_value(item.exception_info, None)


# --------------------------------------------------------------------------------------------
# Data Docs
# --------------------------------------------------------------------------------------------

def build_data_docs(docs_dir: Path, reference: Reference) -> Path:
    """Rebuild the site in `docs_dir` from each source's latest (masked) result."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    _gx()
    docs_dir = Path(docs_dir)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(DOCS_SITE, {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    store = context.validation_results_store
    for path in sorted((docs_dir / LATEST).glob("*.json")):
        result = store.deserialize(path.read_text(encoding="utf-8"))
        source = path.name.removesuffix(".json")
        context.suites.add(build_suite(load_rules(source), reference, []))
        run = result.meta.get("run_id") or {}
        run_id = RunIdentifier(run_name=run.get("run_name"),
                               run_time=run.get("run_time"))
        store.set(ValidationResultIdentifier(ExpectationSuiteIdentifier(source), run_id, source),
                  result)
    # Pages of earlier runs are not linked any more: drop them rather than let them pile up.
    shutil.rmtree(docs_dir / "validations", ignore_errors=True)
    context.build_data_docs(site_names=[DOCS_SITE])
    return docs_dir / "index.html"


def _save_latest(result, docs_dir: Path, source: str) -> None:
    _, context, _, _ = _gx()
    target = Path(docs_dir) / LATEST / f"{source}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(context.validation_results_store.serialize(result), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@dataclass
class ValidationOutcome:
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    batch_failures: list[str]
    stats: dict = field(default_factory=dict)
    docs_index: Path | None = None
    # Where the `valid` rows are in the frame given to `validate_landed` (positions).
    valid_positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def held(self) -> bool:
        """The batch must not load (and the run must fail)."""
        return bool(self.batch_failures)


def _json_default(value):
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _records_json(frame: pd.DataFrame) -> list[str]:
    return rows_as_json(frame, _json_default)


def _raw_location(source: str, ruleset: RuleSet, rows: pd.DataFrame) -> pd.Series:
    if {"source_file", "line_no"} <= set(rows.columns):
        return rows["source_file"].astype("str") + "#L" + rows["line_no"].astype("str")
    if "file" in rows.columns and "source_record_id" in rows.columns:
        return rows["source_record_id"].astype("str")
    version = rows[ruleset.version].astype("str") if ruleset.version in rows.columns else ""
    return f"{source}/" + rows["_source_record_id"].astype("str") + "@" + version


def _quarantine_frame(source: str, ruleset: RuleSet, landed: pd.DataFrame,
                      failed: dict[int, list[Rule]]) -> pd.DataFrame:
    if not failed:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    positions = np.fromiter(sorted(failed), dtype=np.int64)
    rows = landed.iloc[positions]
    source_columns = [c for c in rows.columns if not c.startswith("_")]
    raw = rows["raw"].astype("str").tolist() if "raw" in rows.columns \
        else _records_json(rows[source_columns])
    rules = [failed[p] for p in positions]
    return pd.DataFrame({
        "source_record_id": rows["_source_record_id"].astype("str").to_numpy(),
        "raw_location": _raw_location(source, ruleset, rows).to_numpy(),
        "reason": ["failed critical rules: " + "; ".join(r.words() for r in rs) for rs in rules],
        "raw": raw,
        "rules": [",".join(r.id for r in rs) for rs in rules],
        "severity": "critical",
        "landed_record": _records_json(rows),
    })


def _exception_message(info: dict | None) -> str | None:
    """The message of an expectation that raised (GX nests it per metric, or not)."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None


def validate_landed(source: str, landed: pd.DataFrame, reference: Reference,
                    recent_counts: list[int] | None = None, docs_dir: Path | None = None,
                    run_id: str | None = None, batch_rows: int | None = None
                    ) -> ValidationOutcome:
    """Validate a landed batch of `source` (the landing's columns, metadata included).

    Returns the rows to load (`valid`, landed columns plus `_warnings`), the rows to quarantine
    (`quarantined`: source_record_id, raw_location, reason, raw, rules, severity and the landed
    row as JSON for replay), `batch_failures` (non-empty: load nothing, fail the run) and stats.
    `batch_rows` is the whole batch's row count when `landed` is one slice of it: the volume
    rule judges that count.
    """
    started = time.perf_counter()
    ruleset = load_rules(source)
    gx, _, definition, _ = _gx()
    unique_versions = ~landed.duplicated(["_source_record_id", "_content_hash"]) \
        if "_content_hash" in landed.columns else np.ones(len(landed), dtype=bool)
    landed = landed.loc[unique_versions].reset_index(drop=True)
    frame = checked_frame(source, landed, ruleset.time_columns)
    suite = build_suite(ruleset, reference, recent_counts, batch_rows)
    checked_at = time.perf_counter()
    # GX copies the whole frame for each rule's domain and hashes it once per batch: it
    # gets only the columns the rules read.
    batch = definition.get_batch(batch_parameters={"dataframe": frame[ruleset.read_columns(
        frame.columns)]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # No `unexpected_index_column_names`: GX would look each failing row's key up one by
        # one, for all failing rows, even in SUMMARY; the index is the row number already.
        result = batch.validate(suite, result_format={
            "result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_ROWS})
    gx_seconds = time.perf_counter() - checked_at

    batch_failures: list[str] = []
    failed: dict[int, list[Rule]] = {}
    warned: dict[int, list[str]] = {}
    per_rule: dict[str, int] = {}
    for item in result.results:
        rule = ruleset.rule(item.expectation_config.meta["rule_id"])
        error = _exception_message(item.exception_info)
        if error:
            batch_failures.append(f"{source}: rule {rule.id} could not run: {error}")
            continue
        if item.success:
            continue
        if rule.severity == "batch":
            details = (item.result or {}).get("details") or {}
            if details.get("explanation"):
                explanation = details["explanation"]
            elif rule.expectation == "expect_column_to_exist":
                explanation = "the column is missing from the batch"
            else:
                explanation = (f"{(item.result or {}).get('unexpected_percent', 0):.0f}% of "
                               "the rows fail it")
            batch_failures.append(f"{source}: batch held by {rule.words()} — {explanation}")
            continue
        rows = _failing_rows(frame, rule, item.result, reference)
        per_rule[rule.id] = len(rows)
        held = _held_by_share(source, ruleset, rule, frame, rows)
        if held:
            batch_failures.append(held)
            continue
        target = failed if rule.severity == "critical" else warned
        for position in rows.tolist():
            target.setdefault(position, []).append(rule if rule.severity == "critical"
                                                   else rule.id)
    valid_positions = np.empty(0, dtype=np.int64)
    if batch_failures:
        valid = landed.iloc[:0].assign(**{WARNINGS: pd.Series(dtype="str")})
        quarantined = pd.DataFrame(columns=QUARANTINE_COLUMNS)
    else:
        quarantined = _quarantine_frame(source, ruleset, landed, failed)
        keep = np.ones(len(landed), dtype=bool)
        keep[list(failed)] = False
        flags = np.full(len(landed), None, dtype=object)
        for position, ids in warned.items():
            flags[position] = ",".join(ids)
        valid = landed.loc[keep].assign(**{WARNINGS: pd.Series(flags[keep], dtype="str",
                                                                 index=landed.index[keep])})
        valid_positions = np.flatnonzero(np.asarray(unique_versions))[keep]
    docs_index = None
    mask_result(result, ruleset)
    result.meta["run_id"] = {"run_name": run_id or "adhoc",
                             "run_time": datetime.now(UTC).isoformat()}
    if docs_dir is not None:
        _save_latest(result, docs_dir, source)
        docs_index = build_data_docs(docs_dir, reference)
    stats = {
        "source": source, "rows": len(landed),
        "duplicate_versions_dropped": int((~np.asarray(unique_versions)).sum()),
        "valid": len(valid), "quarantined": len(quarantined),
        "warned": int(valid[WARNINGS].notna().sum()), "failed_rows_per_rule": per_rule,
        "batch_failures": len(batch_failures), "gx_seconds": round(gx_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("%s: %d rows, %d valid (%d with warnings), %d quarantined, %d batch failures",
             source, stats["rows"], stats["valid"], stats["warned"], stats["quarantined"],
             len(batch_failures))
    return ValidationOutcome(valid, quarantined, batch_failures, stats, docs_index,
                             valid_positions)
