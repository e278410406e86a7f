"""Chinese numerals, which number both legal divisions ("第十二条") and headings ("一、")."""

from __future__ import annotations

CN_NUM = r"[零〇一二三四五六七八九十百千万两]+|[0-9０-９]+"
_CN_DIGITS = {
    ch: n for n, chars in enumerate(["零〇", "一", "二两", *"三四五六七八九"]) for ch in chars
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def cn_number(numeral: str) -> str:
    """A Chinese or full-width numeral as Arabic digits, so "第十三条" and "第13条" match."""
    numeral = numeral.translate(_FULL_WIDTH)
    if numeral.isdigit():
        return str(int(numeral))
    total = section = digit = 0
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10000
            section = digit = 0
        else:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
    return str(total + section + digit)
