"""Masking of personal data (ID numbers, phone numbers, names) for logs, messages and views.

Rule of the project: an ID number keeps only its first 6 characters (the area code), a phone
its first 3 and last 4 digits, a name its first character, an address loses its digits.

Why an ID number keeps nothing after the area code: the 18 characters are area (6), birth
date (8), sequence (3, the last one odd for men and even for women) and a check character
computed from the other 17. Hiding only the birth date (150102********0035) protects
nothing wherever the birth date is shown too (`resident.birth_date` is granted to
departments, and birth dates are in rosters): the hidden digits *are* the birth date, and
the full number follows. Keeping the check character would still give away a one-in-eleven
filter on the sequence. With the area code alone, someone who also knows the birth date and
gender faces 500 possible sequences and no check character to tell them apart. A legacy
15-digit number (area 6, birth YYMMDD 6, sequence 3) is masked the same way.
`warehouse.access.mask_sql` masks the department views by the same rule (a test compares
them on both engines).

`mask_text` finds ID numbers and phone numbers inside free text: full-width digits, one
space, dash or dot between digits, and numbers glued to words ("Tel13812345678",
"身份证号150102…"); a number inside a longer run of digits is not one. Names cannot be found
reliably in free text, so code must mask them with `mask_name` before they reach a message.
USCCs identify units, not persons, and are left as they are.

Logs: `PersonalDataFilter` masks stdlib log records on a handler; `install_log_masking`
puts it on the root logger's handlers and a masking processor into structlog's chains,
which is how Airflow's task logs are written (the DAG installs it in every task).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable

_DIGIT_CLASS = "0-9\uff10-\uff19"
_D = f"[{_DIGIT_CLASS}]"
_X = "[XxＸｘ]"
# One optional separator between digits: space, ideographic space, dash, dot (ASCII or
# full-width).
_SEP_CLASS = " \u3000\\-\uff0d.\uff0e"
_SEP = f"[{_SEP_CLASS}]?"
_SEPARATORS = re.compile(f"[{_SEP_CLASS}]")
_LETTER_CLASS = "A-Za-zＡ-Ｚａ-ｚ"
# A number may touch letters and CJK text, never another digit (it would be part of a
# longer number) nor a decimal point between digits (a coordinate's fraction).
_START = f"(?<![{_DIGIT_CLASS}])(?<![{_DIGIT_CLASS}][.．])"
_END = f"(?![{_DIGIT_CLASS}])(?![.．][{_DIGIT_CLASS}])"

# 18-character ID (17 digits + digit or X), 15-digit legacy ID, mobile (optionally +86),
# landline with area code. Alternatives are tried in this order at each position. A landline
# written without a bracket or separator after its area code (02086961234) must not touch
# letters: record keys such as R000000022883 would look like one.
_PATTERN = re.compile(
    # The leading lookahead names the characters a match can start with, which lets the
    # regex engine skip the rest of the text quickly (log lines are mostly words).
    f"(?=[{_DIGIT_CLASS}+＋(（])" + _START + "(?:"
    + f"(?P<id18>{_D}(?:{_SEP}{_D}){{16}}{_SEP}(?:{_D}|{_X}))"
    + f"|(?P<id15>{_D}(?:{_SEP}{_D}){{14}})"
    + f"|(?P<mobile>(?:[+＋]?[8８][6６][ \u3000-]?)?[1１]{_SEP}[3-9３-９](?:{_SEP}{_D}){{9}})"
    + f"|(?P<landline>(?:[(（]?[0０]{_D}{{2,3}}(?:[)）][ \u3000-]?|[ \u3000-])"
    + f"|(?<![{_LETTER_CLASS}])[0０]{_D}{{2,3}}){_D}{{7,8}})"
    + ")" + _END
)
_HAS_DIGIT = re.compile(f"[{_DIGIT_CLASS}]")
_TO_ASCII = str.maketrans("０１２３４５６７８９ｘＸ", "0123456789xX")


def _keep_ends(text: str, keep_first: int, keep_last: int, countable: str) -> str:
    """Replace the countable characters of `text` by '*' except the first and last few;
    separators stay where they are."""
    positions = [i for i, c in enumerate(text) if c in countable]
    if len(positions) <= keep_first + keep_last:
        return "".join("*" if c in countable else c for c in text)
    hidden = set(positions[keep_first:len(positions) - keep_last])
    return "".join("*" if i in hidden else c for i, c in enumerate(text))


_ID_CHARS = "0123456789XxＸｘ０１２３４５６７８９"
_PHONE_CHARS = "0123456789０１２３４５６７８９"


def mask_id(id_number: str) -> str:
    """'150102196503120038' -> '150102************' (the area code only: see the module
    docstring for why the birth date, sequence and check character all go)."""
    return _keep_ends(id_number, 6, 0, _ID_CHARS)


def mask_phone(phone: str) -> str:
    """'13812345678' -> '138****5678' (first 3 and last 4 digits kept; a +86 / 86 country
    code is not counted as the first digits)."""
    text = phone
    prefix = re.match(r"^\s*(?:[+＋]?[8８][6６][ \u3000-]?)(?=[1１])", text)
    if prefix and len(_HAS_DIGIT.findall(text[prefix.end():])) == 11:
        return prefix.group(0) + _keep_ends(text[prefix.end():], 3, 4, _PHONE_CHARS)
    return _keep_ends(text, 3, 4, _PHONE_CHARS)


def mask_name(name: str) -> str:
    """'李秀英' -> '李**' (first character kept; surrounding spaces dropped)."""
    stripped = name.strip()
    return stripped[:1] + "*" * max(len(stripped) - 1, 0)


_DIGIT_RUNS = re.compile(f"{_D}+")


def mask_address(address: str) -> str:
    """'团结小区3号楼2单元' -> '团结小区*号楼*单元' (every run of digits hidden)."""
    return _DIGIT_RUNS.sub("*", address)


# The catalogue's masks (warehouse/catalogue.yaml `mask:`) as Python functions: what a
# department view shows of a column it is not granted (warehouse.access.mask_sql).
COLUMN_MASKS: dict[str, Callable[[str], str | None]] = {
    "id_number": mask_id, "phone": mask_phone, "name": mask_name, "address": mask_address,
    "withhold": lambda value: None,
}


def _plausible_birth(year: int, month: int, day: int) -> bool:
    return 1800 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31


def _mask_match(match: re.Match) -> str:
    text = match.group(0)
    kind = match.lastgroup
    if kind in ("id18", "id15"):
        # An ID carries a plausible birth date; USCCs made of digits only (old
        # organisation codes) and serial numbers glued to a prefix (HL202611010000111)
        # carry none there and are left alone.
        compact = _SEPARATORS.sub("", text).translate(_TO_ASCII)
        year = int(compact[6:10]) if kind == "id18" else 1900 + int(compact[6:8])
        month, day = (int(compact[10:12]), int(compact[12:14])) if kind == "id18" \
            else (int(compact[8:10]), int(compact[10:12]))
        return mask_id(text) if _plausible_birth(year, month, day) else text
    return mask_phone(text)


def mask_text(text: str) -> str:
    """`text` with every ID-number-like and phone-like substring masked."""
    if not _HAS_DIGIT.search(text):
        return text
    return _PATTERN.sub(_mask_match, text)


# ----------------------------------------------------------------------------- records

PERSONAL_KEYS: dict[str, Callable[[str], str]] = {
    "name": mask_name, "reporter_name": mask_name, "legal_rep_name": mask_name,
    "id_number": mask_id, "legal_rep_id_number": mask_id, "phone": mask_phone}


def mask_record(value, key: str | None = None):
    """A parsed record with personal data masked: name/ID/phone fields by their key, ID- and
    phone-like numbers anywhere else in its text."""
    if isinstance(value, dict):
        return {k: mask_record(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_record(v, key) for v in value]
    if isinstance(value, str):
        masker = PERSONAL_KEYS.get(key or "")
        return masker(value) if masker else mask_text(value)
    return value


def masked_raw(raw: str | None) -> str:
    """The raw record for display, personal data masked (JSON when it parses)."""
    if raw is None:
        return "(the raw file in the landing zone keeps it)"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return mask_text(raw)
    if isinstance(parsed, dict) and set(parsed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        # A roster row's cells by column letter: mask every cell's text by pattern; names
        # cannot be told apart from other text there, so cells that are not numbers or
        # dates keep only their first character.
        parsed = {k: v if not isinstance(v, str) or any(ch.isdigit() for ch in v)
                  else mask_name(v) for k, v in parsed.items()}
    return json.dumps(mask_record(parsed), ensure_ascii=False, indent=2)


# ----------------------------------------------------------------------------- logs

class PersonalDataFilter(logging.Filter):
    """Masks ID and phone numbers in a record's message, arguments and exception text.

    Install it on handlers (`handler.addFilter(PersonalDataFilter())`) so that every record
    they emit is masked, whichever logger produced it. The record's message is formatted
    here and its arguments dropped, so handlers after this one see only masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def _mask_structure(value):
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_structure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_structure(v) for v in value)
    return value


def mask_log_event(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: every text of the event masked (message, bound values, the
    exception). An exception not rendered yet is rendered here, so that the renderer after
    this processor gets masked text instead of the live traceback."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        event_dict["exception"] = logging.Formatter().formatException(exc_info)
    for key, value in event_dict.items():
        if not key.startswith("_"):  # structlog's own entries (the stdlib record, flags)
            event_dict[key] = _mask_structure(value)
    return event_dict


def _before_renderer(chain) -> None:
    """Insert mask_log_event just before the last processor (the renderer) of a chain."""
    if isinstance(chain, list) and chain and mask_log_event not in chain:
        chain.insert(len(chain) - 1, mask_log_event)


def install_log_masking() -> None:
    """Mask personal data in everything this process logs from now on (idempotent):
    PersonalDataFilter on every handler of the root logger, and mask_log_event before the
    renderer of structlog's processor chain and of every structlog ProcessorFormatter on
    those handlers (Airflow 3 writes task logs through structlog, stdlib records included).
    The chains are changed in place, so loggers already bound use them too."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PersonalDataFilter) for f in handler.filters):
            handler.addFilter(PersonalDataFilter())
        _before_renderer(getattr(handler.formatter, "processors", None))
    structlog = sys.modules.get("structlog")  # only where something already uses it
    if structlog is not None:
        _before_renderer(structlog.get_config()["processors"])
