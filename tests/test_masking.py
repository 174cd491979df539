import logging

import pytest
from pii_scan import check_char

from common.masking import PersonalDataFilter, mask_id, mask_name, mask_phone, mask_text


def test_field_masks_follow_the_project_rule():
    assert mask_id("150102196503120038") == "150102************"
    assert mask_id("11010519491231002X") == "110105************"
    assert mask_id("150102650312003") == "150102*********"
    assert mask_phone("13904712233") == "139****2233"
    assert mask_phone("+86 139-0471-2233") == "+86 139-****-2233"
    assert mask_phone("0471-6961234") == "047*-***1234"
    assert mask_name("李秀英") == "李**"
    assert mask_name("阿不都·热合曼") == "阿******"
    assert mask_name("") == ""


def test_masks_never_reveal_short_values():
    assert mask_id("12345") == "*****"
    assert mask_phone("1234567") == "*******"


@pytest.mark.parametrize("text, expected", [
    ("身份证号150102196503120038，电话13904712233",
     "身份证号150102************，电话139****2233"),
    ("id=11010519491231002x phone=+8613904712233",
     "id=110105************ phone=+86139****2233"),
    ("证件 150102 19650312 0038 已核验", "证件 150102 ******** **** 已核验"),
    ("手机 139 0471 2233 或 139-0471-2233", "手机 139 **** 2233 或 139-****-2233"),
    ("全角１５０１０２１９６５０３１２００３８号", "全角１５０１０２************号"),
    ("全角手机１３９０４７１２２３３", "全角手机１３９****２２３３"),
    ("老号码150102650312003", "老号码150102*********"),
    ("座机0471-6961234", "座机047*-***1234"),
    # Glued to words (letters or CJK) or split by spaces, dashes or dots: the ones glued to
    # letters and the dotted ones were left in clear by the landed code.
    ("Tel13904712233", "Tel139****2233"),
    ("ID150102196503120038", "ID150102************"),
    ("1390 471 2233", "139* *** 2233"),
    ("139-0471-2233", "139-****-2233"),
    ("150102 19650312 0038", "150102 ******** ****"),
    ("139.0471.2233", "139.****.2233"),
    ("电话：Tel:139．0471．2233。", "电话：Tel:139．****．2233。"),
    ("身份证ID150102.19650312.0038号", "身份证ID150102.********.****号"),
    ("联系人李秀英13904712233转", "联系人李秀英139****2233转"),
    ("Tel0471-6961234", "Tel047*-***1234"),
])
def test_mask_text_finds_ids_and_phones(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "统一社会信用代码91150102MA0N123408",   # USCC with letters
    "华为 914403001922038216",              # all-digit USCC: no birth date inside
    "工单号 20250101000123 已派发",          # 14-digit ticket number
    "流水号123456789012345678901",          # longer digit run
    "3号楼2单元501",
    "no digits here",
    "居民编号R000000022883",                 # record keys glued to a letter: not a landline
    "工单HL202611010000111",                 # 15 digits after a prefix, no birth date inside
    "lat 40.8471 lon 111.6915, 111.69151234567",  # coordinates, decimals
])
def test_mask_text_leaves_non_personal_numbers(text):
    assert mask_text(text) == text


def _candidates(masked: str, birth: str, male: bool) -> set[str]:
    """Every valid ID number consistent with a masked one, a known birth date (YYYYMMDD)
    and gender: what someone who sees those three columns can narrow it down to."""
    found = set()
    for seq in range(1000):
        if seq % 2 != male:
            continue
        first17 = masked[:6] + birth + f"{seq:03d}"
        candidate = first17 + check_char(first17)
        if all(m in ("*", c) for m, c in zip(masked, candidate)):
            found.add(candidate)
    return found


def test_a_masked_id_is_not_recoverable_with_the_birth_date_and_gender():
    """The old mask (150102********0038) hid exactly the birth date: with resident.birth_date
    granted the full number followed. The area code alone leaves 500 candidates."""
    id_number = "150102196503120038"
    assert check_char(id_number[:17]) == id_number[17]  # a valid number
    masked = mask_id(id_number)
    assert masked == "150102************"
    candidates = _candidates(masked, "19650312", male=True)
    assert id_number in candidates and len(candidates) == 500
    # The 15-digit legacy number keeps its area code only too.
    assert mask_id("150102650312003") == "150102" + "*" * 9


def test_filter_masks_message_args_and_exception(caplog):
    logger = logging.getLogger("govshare.test_masking")
    handler = caplog.handler
    handler.addFilter(PersonalDataFilter())
    try:
        logger.warning("quarantined %s with phone %s", "150102196503120038", 13904712233)
        try:
            raise ValueError("bad id 11010519491231002X")
        except ValueError:
            logger.exception("parse failed for %r", {"phone": "13904712233"})
    finally:
        handler.filters.clear()
    text = caplog.text
    assert "150102************" in text and "139****2233" in text
    assert "110105************" in text
    for secret in ("196503120038", "04712233", "19491231002X"):
        assert secret not in text
