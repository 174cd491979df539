"""Masking of personal data (ID numbers, phone numbers, names) for logs and messages.

Rule of the project: an ID number keeps its first 6 and last 4 characters, a phone its first
3 and last 4 digits, a name its first character. `mask_text` finds ID numbers and phone
numbers inside free text, including full-width digits and spaces or dashes inside them;
names cannot be found reliably in free text, so code must mask them with `mask_name` before
they reach a message. USCCs identify units, not persons, and are left as they are.
"""

from __future__ import annotations

import logging
import re

_DIGIT_CLASS = "0-9\uff10-\uff19"
_D = f"[{_DIGIT_CLASS}]"
_X = "[XxＸｘ]"
_SEP = "[ \u3000-]?"  # one optional space, ideographic space or dash between digits
_NOT_ALNUM_BEFORE = f"(?<![{_DIGIT_CLASS}A-Za-zＡ-Ｚａ-ｚ])"
_NOT_ALNUM_AFTER = f"(?![{_DIGIT_CLASS}A-Za-zＡ-Ｚａ-ｚ])"

# 18-character ID (17 digits + digit or X), 15-digit legacy ID, mobile (optionally +86),
# landline with area code. Alternatives are tried in this order at each position.
_PATTERN = re.compile(
    _NOT_ALNUM_BEFORE + "(?:"
    + f"(?P<id18>{_D}(?:{_SEP}{_D}){{16}}{_SEP}(?:{_D}|{_X}))"
    + f"|(?P<id15>{_D}(?:{_SEP}{_D}){{14}})"
    + f"|(?P<mobile>(?:[+＋]?[8８][6６][ \u3000-]?)?[1１]{_SEP}[3-9３-９](?:{_SEP}{_D}){{9}})"
    + f"|(?P<landline>[(（]?[0０]{_D}{{2,3}}[)）]?[ \u3000-]?{_D}{{7,8}})"
    + ")" + _NOT_ALNUM_AFTER
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
    """'150102196503120038' -> '150102********0038' (first 6 and last 4 kept)."""
    return _keep_ends(id_number, 6, 4, _ID_CHARS)


def mask_phone(phone: str) -> str:
    """'13904712233' -> '139****2233' (first 3 and last 4 digits kept; a +86 / 86 country
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


def _looks_like_id18(digits: str) -> bool:
    """An 18-character digit string is an ID when its birth date is plausible; USCCs made of
    digits only (old organisation codes) carry no date there and are left alone."""
    year, month, day = int(digits[6:10]), int(digits[10:12]), int(digits[12:14])
    return 1800 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31


def _mask_match(match: re.Match) -> str:
    text = match.group(0)
    kind = match.lastgroup
    if kind == "id18":
        compact = re.sub(r"[ \u3000-]", "", text).translate(_TO_ASCII)
        return mask_id(text) if _looks_like_id18(compact) else text
    if kind == "id15":
        return mask_id(text)
    return mask_phone(text)


def mask_text(text: str) -> str:
    """`text` with every ID-number-like and phone-like substring masked."""
    if not _HAS_DIGIT.search(text):
        return text
    return _PATTERN.sub(_mask_match, text)


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
