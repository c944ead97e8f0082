"""Text from a pack (a licence, a vocabulary, generated lines) is a stranger's: before it reaches
a terminal or an editor, control characters are shown as escapes, not obeyed. An escape sequence
in a licence field could otherwise recolour, retitle or clear the user's terminal, and bidi
overrides could make displayed text read differently from what it is."""

from __future__ import annotations

import unicodedata

#: bidirectional embedding/override/isolate controls (category Cf, but they reorder text)
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def printable(text: str, keep: str = "") -> str:
    """``text`` with every control character (Unicode Cc and the bidi controls) written as a
    ``\\xNN``/``\\uNNNN`` escape, except those listed in ``keep`` (e.g. ``"\\n"``)."""
    if text.isprintable() and not (_BIDI & set(text)):
        return text  # the common case, fast
    out = []
    for ch in text:
        if ch in keep or not (unicodedata.category(ch) == "Cc" or ch in _BIDI):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def a_model(name: str) -> str:
    """``"a texture model"``, ``"an image model"``: modality names reach help texts and errors."""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} model"
