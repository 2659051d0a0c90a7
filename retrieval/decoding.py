"""Turn the bytes of a text file into text: refuse binary data, decode UTF-8 or fall back and say so."""

from __future__ import annotations

import codecs

SNIFF_BYTES = 8192  # how much of a file is looked at to tell text from binary data
# Bytes that do not occur in text files; tab, newline, vertical tab, form feed, carriage
# return and escape do.
_CONTROL = frozenset(range(32)) - {9, 10, 11, 12, 13, 27}
MAX_CONTROL_SHARE = 0.1


class BinaryContent(ValueError):
    """The bytes are not text, whatever the file's extension says."""


def binary_reason(sample: bytes) -> str | None:
    """Why `sample` (the start of a file) is binary data rather than text, or None if it is text."""
    if b"\x00" in sample:
        return "binary content (NUL bytes), not text"
    control = sum(byte in _CONTROL for byte in sample)
    if sample and control / len(sample) > MAX_CONTROL_SHARE:
        return f"binary content ({control} control bytes in the first {len(sample)}), not text"
    return None


def decode_text(data: bytes) -> tuple[str, str | None]:
    """(text, note): UTF-8 (BOM allowed) gives no note; UTF-16 with a BOM, cp1252 and latin-1 say
    which encoding was used. Raises BinaryContent for data that is not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # UTF-16 text is full of NULs
        try:
            return data.decode("utf-16"), "decoded as UTF-16 (byte-order mark)"
        except UnicodeDecodeError:
            raise BinaryContent("not valid UTF-16 despite its byte-order mark") from None
    reason = binary_reason(data[:SNIFF_BYTES])
    if reason:
        raise BinaryContent(reason)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        where = error.start
    try:
        encoding, text = "cp1252", data.decode("cp1252")
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 maps every byte
        encoding, text = "latin-1", data.decode("latin-1")
    return text, f"not valid UTF-8 (byte {where}); decoded as {encoding}"
