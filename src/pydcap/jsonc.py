"""JSON as Intel writes its configuration files: ``//`` and ``/* */`` comments (QCNL's rapidjson reads them;
PCCS's node-config reads JSON5, which also allows a comma before a closing bracket).

``strip_comments`` and ``strip_trailing_commas`` keep every newline, so a JSON error's line is the file's line.
"""

from __future__ import annotations


class CommentError(ValueError):
    """A comment that never ends; ``line`` is where it starts."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def line_of(text: str, pos: int) -> int:
    """The 1-based line of offset ``pos``."""
    return text.count("\n", 0, pos) + 1


def _outside_strings(text: str) -> list[tuple[int, int, bool]]:
    """``text`` cut into (start, end, is_string) runs; a string run includes its quotes."""
    runs: list[tuple[int, int, bool]] = []
    i, start, n = 0, 0, len(text)
    while i < n:
        if text[i] != '"':
            i += 1
            continue
        runs.append((start, i, False))
        j = i + 1
        while j < n and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        runs.append((i, min(j + 1, n), True))
        i = start = min(j + 1, n)
    runs.append((start, n, False))
    return runs


def strip_comments(text: str) -> str:
    """Replace ``//`` and ``/* */`` comments outside strings with spaces (``CommentError`` if ``/*`` never ends)."""
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            in_string = c != '"'
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise CommentError("comment opened with /* is never closed", line_of(text, i))
            out.append("".join(ch if ch == "\n" else " " for ch in text[i : end + 2]))
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_trailing_commas(text: str) -> str:
    """Blank a comma that only whitespace separates from a closing ``}`` or ``]`` (outside strings)."""
    chars = list(text)
    for start, end, is_string in _outside_strings(text):
        if is_string:
            continue
        for i in range(start, end):
            if chars[i] != ",":
                continue
            j = i + 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if j < len(text) and text[j] in "}]":
                chars[i] = " "
    return "".join(chars)
