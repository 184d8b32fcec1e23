"""The Liquid filters Customer.io adds to standard Liquid, with LiquidJS ("Latest") behaviour.

`register` adds them to a python-liquid environment; `to_text` is how values print. Dates are
unix seconds (or 'now') and render in UTC unless a timezone is given.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import html
import json
import math
import random
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from liquid import Environment
from liquid.exceptions import FilterArgumentError, OutputStreamLimitError
from liquid.filter import flatten
from liquid.limits import to_int
from liquid.undefined import Undefined

Number = int | float | Decimal

# --- values -------------------------------------------------------------------------------


def _plain(value: object) -> object:
    """The value, with undefined as None; a missing strict variable raises its error here."""
    if isinstance(value, Undefined):
        value.poke()
        return None
    return value


def _js_float(number: float) -> object:
    # JavaScript has one number type: 15.0 is 15.
    return int(number) if number.is_integer() and abs(number) < 1e21 else number


def to_text(value: object) -> str:
    """How a value prints: JavaScript-like numbers, arrays concatenated, objects as JSON."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        return str(_js_float(value))
    if isinstance(value, list | tuple):
        return "".join(to_text(item) for item in value)
    if isinstance(value, Mapping):
        return _dump(value)
    if isinstance(value, range):
        return f"{value.start}..{value.stop - 1}"
    return str(value)


def _jsonable(value: object) -> object:
    value = _plain(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        return _js_float(number) if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | range):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _dump(value: object, indent: int | None = None) -> str:
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(_jsonable(value), ensure_ascii=False, indent=indent, separators=separators)


_text = to_text


def _number(value: object, name: str) -> Number:
    value = _plain(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return to_int(text)
        except ValueError:
            pass
        try:
            number = float(text)
            if math.isfinite(number):
                return number
        except ValueError:
            pass
    raise FilterArgumentError(f"{name}: expected a number, found {value!r}", token=None)


def _int(value: object, name: str) -> int:
    return int(_number(value, name))


def as_list(value: object) -> list[Any]:
    """Arrays as a list, nil as [], anything else as [value]."""
    value = _plain(value)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | range) else [value]


def _lookup(item: object, path: object) -> object:
    """item[path], where path may be dotted ("a.b"); None when absent."""
    value = _plain(item)
    for key in _text(path).split("."):
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list | tuple) and key.lstrip("-").isdigit():
            value = value[int(key)] if -len(value) <= int(key) < len(value) else None
        else:
            return None
    return value


# --- strings ------------------------------------------------------------------------------


def _replace_last(value: object, old: object, new: object = "") -> str:
    text, old_text = _text(value), _text(old)
    at = text.rfind(old_text)
    return text if at < 0 else text[:at] + _text(new) + text[at + len(old_text) :]


def _slug_char_kept(char: str, mode: str) -> bool:
    if mode == "ascii":
        return char.isascii() and char.isalnum()
    category = unicodedata.category(char)
    if category[0] in "LM" or category == "Nd":
        return True
    return mode == "pretty" and char in "._~!$&'()+,;=@"


def _slugify(value: object, mode: object = "default") -> str:
    """Jekyll's slugify (modes raw, default, pretty, ascii, latin, none), lower-cased."""
    text, kind = _text(value), _text(mode) or "default"
    if kind == "none":
        return text
    if kind == "latin":
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        kind = "ascii"
    if kind != "raw":
        text = "".join(c if _slug_char_kept(c, kind) else " " for c in text).strip()
    return re.sub(r"\s+", "-", text).strip("-").lower()


def _pluralize(value: object, singular: object, plural: object = None) -> str:
    """ "1 item", "3 items": the number and the word for it."""
    count = _number(value, "pluralize")
    word = _text(singular) if count == 1 else (_text(plural) or _text(singular) + "s")
    return f"{to_text(count)} {word}"


_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _number_of_words(value: object, mode: object = None) -> int:
    """Whitespace-separated words; modes "cjk" and "auto" count each CJK character as one."""
    text, kind = _text(value), _text(mode)
    if kind == "cjk" or (kind == "auto" and _CJK.search(text)):
        return len(_CJK.findall(text)) + len(_CJK.sub(" ", text).split())
    return len(text.split())


def _array_to_sentence_string(value: object, connector: object = "and") -> str:
    """["a", "b", "c"] -> "a, b, and c"."""
    words, joiner = [to_text(item) for item in as_list(value)], _text(connector)
    if len(words) <= 2:
        return f" {joiner} ".join(words)
    return f"{', '.join(words[:-1])}, {joiner} {words[-1]}"


def _contains(value: object, item: object) -> bool:
    haystack, needle = _plain(value), _plain(item)
    if isinstance(haystack, str):
        return to_text(needle) in haystack
    return isinstance(haystack, list | tuple | Mapping) and needle in haystack


def _hex_base64(value: object) -> str:
    try:
        return base64.b64encode(bytes.fromhex(_text(value).strip())).decode()
    except ValueError as err:
        raise FilterArgumentError("hex_base64: not a hexadecimal string", token=None) from err


def _digest(algorithm: str) -> Callable[[object], str]:
    return lambda value: hashlib.new(algorithm, _text(value).encode()).hexdigest()


def _hmac(algorithm: str) -> Callable[[object, object], str]:
    def digest(value: object, key: object = "") -> str:
        return hmac.new(_text(key).encode(), _text(value).encode(), algorithm).hexdigest()

    return digest


# --- numbers and currency -----------------------------------------------------------------

_NBSP, _NNBSP = "\u00a0", "\u202f"


@dataclass(frozen=True)
class _Locale:
    group: str
    decimal: str
    currency: str  # the default currency code
    symbol_after: bool = False
    symbol_gap: str = ""
    min_grouping: int = 1  # digits before the first separator appears is 3 + this
    symbols: Mapping[str, str] = field(default_factory=dict)


# Separators and currency placement as Intl.NumberFormat (CLDR) renders them.
# fmt: off
_LOCALES = {
    "en": _Locale(",", ".", "USD"),
    "en-us": _Locale(",", ".", "USD"),
    "en-gb": _Locale(",", ".", "GBP", symbols={"USD": "US$"}),
    "de": _Locale(".", ",", "EUR", True, _NBSP),
    "fr": _Locale(_NNBSP, ",", "EUR", True, _NBSP, symbols={"USD": "$US", "GBP": "£GB"}),
    "es": _Locale(".", ",", "EUR", True, _NBSP, min_grouping=2, symbols={"USD": "US$"}),
    "pt": _Locale(".", ",", "BRL", False, _NBSP, symbols={"USD": "US$"}),
    "pt-br": _Locale(".", ",", "BRL", False, _NBSP, symbols={"USD": "US$"}),
    "ja": _Locale(",", ".", "JPY", symbols={"JPY": "￥"}),
}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "BRL": "R$", "CAD": "CA$", "AUD": "A$",
            "MXN": "MX$", "CNY": "CN¥", "INR": "₹", "KRW": "₩"}
# fmt: on
_ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG"}


def _locale(value: object) -> _Locale:
    key = _text(value).strip().lower().replace("_", "-") or "en-us"
    return _LOCALES.get(key) or _LOCALES.get(key.split("-")[0]) or _LOCALES["en-us"]


def _digits(number: Number, loc: _Locale, min_frac: int, max_frac: int) -> tuple[str, bool]:
    """The number's digits with the locale's separators, and whether it is negative."""
    exact = number if isinstance(number, Decimal) else Decimal(repr(number))
    if not exact.is_finite():
        return ("NaN", False) if exact.is_nan() else ("∞", exact < 0)
    with localcontext() as ctx:
        ctx.prec = max(28, exact.adjusted() + max_frac + 2)
        rounded = exact.quantize(Decimal(1).scaleb(-max_frac), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{abs(rounded):f}".partition(".")
    frac = frac[:min_frac] + frac[min_frac:].rstrip("0")
    if len(whole) >= 3 + loc.min_grouping:
        groups = [whole[max(0, end - 3) : end] for end in range(len(whole), 0, -3)]
        whole = loc.group.join(reversed(groups))
    return whole + (loc.decimal + frac if frac else ""), rounded < 0


def _format_number(value: object, locale: object = "en-US") -> str:
    """Grouped digits, at most three decimals: 1234567.891 -> "1,234,567.891"."""
    digits, negative = _digits(_number(value, "format_number"), _locale(locale), 0, 3)
    return ("-" if negative else "") + digits


def _money(name: str, *, whole: bool) -> Callable[..., str]:
    def money(value: object, locale: object = "en-US", code: object = None) -> str:
        loc = _locale(locale)
        currency = _text(code).strip().upper() or loc.currency
        places = 0 if whole or currency in _ZERO_DECIMAL_CURRENCIES else 2
        digits, negative = _digits(_number(value, name), loc, places, places)
        symbol = loc.symbols.get(currency) or _SYMBOLS.get(currency, currency)
        # As ICU: a space only where a letter of the symbol would touch the digits.
        gap = loc.symbol_gap or (_NBSP if symbol[-1].isalpha() else "")
        sign = "-" if negative else ""
        return (
            f"{sign}{digits}{gap}{symbol}" if loc.symbol_after else f"{sign}{symbol}{gap}{digits}"
        )

    return money


def _random(value: object) -> object:
    """A random integer from 0 to N-1, or a random element of an array."""
    plain = _plain(value)
    if isinstance(plain, list | tuple):
        return random.choice(plain) if plain else None
    limit = _int(plain, "random")
    return random.randrange(limit) if limit > 0 else 0


# --- arrays -------------------------------------------------------------------------------


def group_pairs(pairs: Iterable[tuple[object, object]]) -> list[dict[str, Any]]:
    """Items grouped by key, in first-seen order: [{"name": key, "items": [...]}]."""
    groups: dict[str, dict[str, Any]] = {}
    for item, key in pairs:
        plain = _plain(key)
        groups.setdefault(_dump(plain), {"name": plain, "items": []})["items"].append(item)
    return list(groups.values())


def _where_not(value: object, prop: object, target: object = None) -> list[Any]:
    """Items whose property differs from target; without target, whose property is falsy."""
    wanted = _plain(target)
    if wanted is None:
        return [item for item in as_list(value) if _lookup(item, prop) in (None, False)]
    return [item for item in as_list(value) if _lookup(item, prop) != wanted]


def _sum(value: object, prop: object = None) -> Number:
    """Sum of the items (or of a property of each), non-numbers counting as 0."""
    total: Number = 0
    for item in flatten(as_list(value)):
        part = _lookup(item, prop) if _plain(prop) is not None else item
        try:
            total += _number(part, "sum")  # type: ignore[operator]
        except FilterArgumentError:
            pass
    return total


def _json_array_uniq(value: object) -> list[Any]:
    """Drop repeated elements, comparing objects by content; JSON text is parsed first."""
    seen: set[str] = set()
    unique = []
    for item in as_list(_from_json(value)):
        key = json.dumps(_jsonable(item), sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _from_json(value: object) -> object:
    """Parse stringified JSON; anything that is not a string passes through."""
    plain = _plain(value)
    if not isinstance(plain, str):
        return plain
    try:
        return json.loads(plain)
    except ValueError as err:
        raise FilterArgumentError(f"from_json: invalid JSON ({err})", token=None) from err


def _to_json(value: object, indent: object = None) -> str:
    """Compact JSON, or indented by N spaces (at most 10, as JSON.stringify)."""
    if _plain(indent) is None:
        return _dump(value)
    return _dump(value, min(10, max(0, _int(indent, "json"))))


# --- dates --------------------------------------------------------------------------------

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August"]
_MONTH_NAMES += ["September", "October", "November", "December"]
_DIRECTIVE = re.compile(r"%([-_0^#]*)(\d*)(:z|[a-zA-Z%+])")
_DEFAULT_FORMAT = "%A, %B %-e, %Y at %-l:%M %P %z"
# fmt: off
_COMPOSITE = {"c": "%a %b %e %H:%M:%S %Y", "D": "%m/%d/%y", "x": "%m/%d/%y", "F": "%Y-%m-%d",
              "T": "%H:%M:%S", "X": "%H:%M:%S", "R": "%H:%M", "r": "%I:%M:%S %p",
              "+": "%a %b %e %H:%M:%S %Z %Y"}
# Numeric directives: default width and padding.
_PADDING = {"d": "02", "e": "_2", "H": "02", "k": "_2", "I": "02", "l": "_2", "m": "02",
            "M": "02", "S": "02", "L": "03", "N": "09", "j": "03", "y": "02", "C": "02",
            "V": "02", "U": "02", "W": "02", "Y": "01", "G": "01", "u": "01", "w": "01", "s": "01"}
# fmt: on


def _numeric(moment: datetime, code: str) -> int:
    sunday_based, yday = (moment.weekday() + 1) % 7, moment.timetuple().tm_yday
    values: dict[str, Callable[[], int]] = {
        "d": lambda: moment.day, "e": lambda: moment.day, "H": lambda: moment.hour,
        "k": lambda: moment.hour, "I": lambda: moment.hour % 12 or 12,
        "l": lambda: moment.hour % 12 or 12, "m": lambda: moment.month,
        "M": lambda: moment.minute, "S": lambda: moment.second,
        "L": lambda: moment.microsecond // 1000, "N": lambda: moment.microsecond * 1000,
        "j": lambda: yday, "y": lambda: moment.year % 100, "C": lambda: moment.year // 100,
        "Y": lambda: moment.year, "G": lambda: moment.isocalendar()[0],
        "V": lambda: moment.isocalendar()[1], "u": moment.isoweekday, "w": lambda: sunday_based,
        "U": lambda: (yday + 6 - sunday_based) // 7,
        "W": lambda: (yday + 6 - moment.weekday()) // 7,
        "s": lambda: int(moment.timestamp()),
    }  # fmt: skip
    return values[code]()


def _offset(moment: datetime, colon: str = "") -> str:
    minutes = int((moment.utcoffset() or timedelta(0)).total_seconds()) // 60
    hours, mins = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}{colon}{mins:02d}"


def _ordinal(day: int) -> str:
    return "th" if day % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _word(moment: datetime, code: str) -> str | None:
    zone = moment.tzinfo
    # A fixed offset has no zone name; LiquidJS prints it like %z.
    named = isinstance(zone, ZoneInfo) or zone is UTC
    words = {
        "a": _DAYS[moment.weekday()][:3], "A": _DAYS[moment.weekday()],
        "b": _MONTH_NAMES[moment.month - 1][:3], "h": _MONTH_NAMES[moment.month - 1][:3],
        "B": _MONTH_NAMES[moment.month - 1], "p": "AM" if moment.hour < 12 else "PM",
        "P": "am" if moment.hour < 12 else "pm", "q": _ordinal(moment.day),
        "z": _offset(moment), ":z": _offset(moment, ":"),
        "Z": (moment.tzname() or "") if named else _offset(moment), "%": "%", "n": "\n", "t": "\t",
    }  # fmt: skip
    return words.get(code)


def strftime(moment: datetime, fmt: str) -> str:
    """Ruby/LiquidJS strftime (flags - _ 0 ^ #, %q ordinals), independent of the C library."""

    def directive(match: re.Match[str]) -> str:
        flags, width, code = match.groups()
        if code in _COMPOSITE:
            return strftime(moment, _COMPOSITE[code])
        if code in _PADDING:
            number, pad = _numeric(moment, code), _PADDING[code][0].replace("_", " ")
            pad = " " if "_" in flags else "0" if "0" in flags else pad
            digits = str(abs(number))
            if "-" not in flags:
                digits = digits.rjust(min(int(width or _PADDING[code][1]), 64), pad)
            return ("-" if number < 0 else "") + digits
        word = _word(moment, code)
        if word is None:
            return match.group(0)
        word = word.upper() if "^" in flags else word.swapcase() if "#" in flags else word
        return word.rjust(min(int(width), 64)) if width else word

    return _DIRECTIVE.sub(directive, fmt)


_NUMERIC_TEXT = re.compile(r"-?\d+(\.\d+)?")


def _moment(value: object) -> datetime | None:
    """Unix seconds, numeric text, 'now'/'today' or a datetime; None for anything else."""
    plain = _plain(value)
    if isinstance(plain, datetime):
        return plain if plain.tzinfo else plain.replace(tzinfo=UTC)
    if isinstance(plain, str):
        text = plain.strip()
        if text.lower() in ("now", "today"):
            return datetime.now(UTC)
        if not _NUMERIC_TEXT.fullmatch(text):
            return None
        plain = float(text)
    if isinstance(plain, int | float | Decimal) and not isinstance(plain, bool):
        try:
            return datetime.fromtimestamp(float(plain), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _zone(value: object, *, minutes: bool) -> tzinfo | None:
    """An IANA name or a numeric offset: minutes behind UTC (JavaScript's getTimezoneOffset,
    so -330 is UTC+05:30) or, for the legacy timezone filter, hours ahead."""
    plain = _plain(value)
    if plain is None or plain == "":
        return None
    if isinstance(plain, str) and not _NUMERIC_TEXT.fullmatch(plain.strip()):
        try:
            return ZoneInfo(plain.strip())
        except Exception as err:  # zoneinfo raises several kinds for bad keys
            raise FilterArgumentError(f"unknown timezone {plain!r}", token=None) from err
    offset = float(_number(plain, "timezone"))
    if abs(offset) >= (24 * 60 if minutes else 24):
        raise FilterArgumentError(f"timezone offset out of range: {plain!r}", token=None)
    return timezone(timedelta(minutes=-offset) if minutes else timedelta(hours=offset))


def _date(value: object, fmt: object = None, zone: object = None) -> object:
    """strftime, in the timezone of the second argument; other input passes through."""
    moment = _moment(value)
    if moment is None:
        return _plain(value)
    target = _zone(zone, minutes=True)
    pattern = _text(fmt) or _DEFAULT_FORMAT
    return strftime(moment.astimezone(target) if target else moment, pattern)


def _timezone(value: object, zone: object) -> object:
    """Legacy: the moment in a zone (offsets in hours), for a following date filter."""
    moment, target = _moment(value), _zone(zone, minutes=False)
    return moment.astimezone(target) if moment and target else _plain(value)


def _jekyll_date(month: str) -> Callable[..., object]:
    def formatted(value: object, kind: object = None, style: object = None) -> object:
        moment = _moment(value)
        if moment is None:
            return _plain(value)
        if _text(kind) != "ordinal":
            return strftime(moment, f"%d {month} %Y")
        day = f"{moment.day}{_ordinal(moment.day)}"
        us = _text(style) == "US"
        return strftime(moment, f"{month} {day}, %Y" if us else f"{day} {month} %Y")

    return formatted


def _formatter(pattern: str) -> Callable[[object], object]:
    def formatted(value: object) -> object:
        moment = _moment(value)
        return _plain(value) if moment is None else strftime(moment, pattern)

    return formatted


def _adder(unit: str, sign: int) -> Callable[..., object]:
    def add(value: object, amount: object = 1) -> object:
        moment = _moment(value)
        if moment is None:
            return _plain(value)
        count = sign * _int(amount, f"add_{unit}")
        try:
            if unit == "day":
                return int((moment + timedelta(days=count)).timestamp())
            index = moment.year * 12 + moment.month - 1 + count * (12 if unit == "year" else 1)
            year, month = divmod(index, 12)
            day = min(moment.day, calendar.monthrange(year, month + 1)[1])
            return int(moment.replace(year=year, month=month + 1, day=day).timestamp())
        except (OverflowError, ValueError) as err:
            raise FilterArgumentError(f"date out of range: {err}", token=None) from err

    return add


# --- registration -------------------------------------------------------------------------


def _checked_size(size: int, max_string: int) -> None:
    if size > max_string:
        raise OutputStreamLimitError("filter result exceeds the output limit", token=None)


def _join(max_string: int) -> Callable[..., str]:
    def join(value: object, separator: object = " ") -> str:
        parts, glue = [to_text(item) for item in flatten(as_list(value))], _text(separator)
        _checked_size(sum(map(len, parts)) + len(glue) * max(0, len(parts) - 1), max_string)
        return glue.join(parts)

    return join


def _replace(max_string: int) -> Callable[..., str]:
    def replace(value: object, old: object, new: object = "") -> str:
        text, old_text, new_text = _text(value), _text(old), _text(new)
        count = text.count(old_text) if old_text else len(text) + 1
        _checked_size(len(text) + count * len(new_text), max_string)
        return text.replace(old_text, new_text)

    return replace


def register(env: Environment, *, max_string: int) -> None:
    """Add Customer.io's filters to env; join and replace refuse results over max_string."""
    quote, text = urllib.parse.quote, _text
    filters: dict[str, Callable[..., Any]] = {
        # strings
        "titlecase": lambda v: re.sub(r"\S+", lambda m: m[0][:1].upper() + m[0][1:].lower(),
                                      text(v)),
        "replace_last": _replace_last,
        "remove_last": lambda v, old: _replace_last(v, old, ""),
        "normalize_whitespace": lambda v: " ".join(text(v).split()),
        "slugify": _slugify, "pluralize": _pluralize, "number_of_words": _number_of_words,
        "array_to_sentence_string": _array_to_sentence_string, "contains": _contains,
        "xml_escape": lambda v: html.escape(text(v)).replace("&#x27;", "&#39;"),
        "cgi_escape": lambda v: urllib.parse.quote_plus(text(v), safe=""),
        "uri_escape": lambda v: quote(text(v), safe=";,/?:@&=+$!*'()#[]~"),  # encodeURI
        "url_encode": lambda v: urllib.parse.quote_plus(text(v), safe="!*'()~"),
        "base64": lambda v: base64.b64encode(text(v).encode()).decode(),
        "hex_base64": _hex_base64,
        "md5": _digest("md5"), "sha1": _digest("sha1"), "sha256": _digest("sha256"),
        "hmac_sha1": _hmac("sha1"), "hmac_sha256": _hmac("sha256"),
        # numbers
        "format_number": _format_number, "random": _random,
        "currency": _money("currency", whole=False),
        "rounded_currency": _money("rounded_currency", whole=True),
        # arrays
        "group_by": lambda v, prop: group_pairs((item, _lookup(item, prop)) for item in as_list(v)),
        "json_array_uniq": _json_array_uniq, "where_not": _where_not,
        "limit": lambda v, n: as_list(v)[: max(0, _int(n, "limit"))],
        "push": lambda v, item: [*as_list(v), _plain(item)],
        "unshift": lambda v, item: [_plain(item), *as_list(v)],
        "pop": lambda v, n=1: as_list(v)[: max(0, len(as_list(v)) - max(0, _int(n, "pop")))],
        "shift": lambda v, n=1: as_list(v)[max(0, _int(n, "shift")) :],
        "sum": _sum, "join": _join(max_string), "replace": _replace(max_string),
        # JSON
        "from_json": _from_json, "to_json": _to_json, "json": _to_json,
        # dates
        "date": _date, "timezone": _timezone,
        "date_to_string": _jekyll_date("%b"), "date_to_long_string": _jekyll_date("%B"),
        "date_to_rfc822": _formatter("%a, %d %b %Y %H:%M:%S %z"),
        "date_to_xmlschema": _formatter("%Y-%m-%dT%H:%M:%S%:z"),
    }  # fmt: skip
    for unit in ("day", "month", "year"):
        filters[f"add_{unit}"], filters[f"subtract_{unit}"] = _adder(unit, 1), _adder(unit, -1)
    env.filters.update(filters)
