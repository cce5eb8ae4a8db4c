"""The functions a shared library exports, read from its ELF dynamic symbol table without loading it.

Discovery and ``pydcap doctor`` use this to describe every installed plugin (Intel's or Azure's, complete or
not) without running any plugin's initialisation code; only the selected plugin is ever loaded.
"""

from __future__ import annotations

import struct
from pathlib import Path

_SHT_DYNSYM = 11
_SHN_UNDEF = 0
_STB_GLOBAL = 1
_STB_WEAK = 2
_MAX_SIZE = 256 * 1024 * 1024


class NotElfError(ValueError):
    """The file is not a little-endian ELF shared object with a readable dynamic symbol table."""


def exported_symbols(path: str | Path) -> frozenset[str]:
    """Names of the defined global and weak symbols in ``path``'s ``.dynsym``."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > _MAX_SIZE:
            raise NotElfError(f"{size} bytes is too large for a quote provider library")
        data = p.read_bytes()
    except OSError as exc:
        raise NotElfError(f"cannot read: {exc.strerror}") from exc
    return _dynsym_names(data)


def _dynsym_names(data: bytes) -> frozenset[str]:
    if data[:4] != b"\x7fELF":
        raise NotElfError("not an ELF file")
    if len(data) < 64 or data[5] != 1:
        raise NotElfError("not a little-endian ELF file")
    elf64 = data[4] == 2
    try:
        if elf64:
            (shoff,) = struct.unpack_from("<Q", data, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        else:
            (shoff,) = struct.unpack_from("<I", data, 0x20)
            shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
        sections = [_section(data, shoff + i * shentsize, elf64) for i in range(shnum)]
        for sh_type, offset, size, link, entsize in sections:
            if sh_type != _SHT_DYNSYM:
                continue
            if not 0 <= link < len(sections):
                raise NotElfError("dynamic symbol table links to no string table")
            _, str_off, str_size, _, _ = sections[link]
            strtab = data[str_off : str_off + str_size]
            return frozenset(_symbols(data, offset, size, entsize or (24 if elf64 else 16), strtab, elf64))
    except struct.error as exc:
        raise NotElfError(f"truncated ELF file: {exc}") from exc
    raise NotElfError("no dynamic symbol table")


def _section(data: bytes, at: int, elf64: bool) -> tuple[int, int, int, int, int]:
    if elf64:
        _, sh_type, _, _, offset, size, link, _, _, entsize = struct.unpack_from("<IIQQQQIIQQ", data, at)
    else:
        _, sh_type, _, _, offset, size, link, _, _, entsize = struct.unpack_from("<IIIIIIIIII", data, at)
    if offset + size > len(data) and sh_type != 8:  # SHT_NOBITS occupies no file space
        raise NotElfError("a section extends past the end of the file")
    return sh_type, offset, size, link, entsize


def _symbols(data: bytes, offset: int, size: int, entsize: int, strtab: bytes, elf64: bool) -> list[str]:
    names = []
    for at in range(offset, offset + size - entsize + 1, entsize):
        if elf64:
            name_off, info, _, shndx = struct.unpack_from("<IBBH", data, at)
        else:
            name_off, _, _, info, _, shndx = struct.unpack_from("<IIIBBH", data, at)
        if shndx == _SHN_UNDEF or info >> 4 not in (_STB_GLOBAL, _STB_WEAK):
            continue
        end = strtab.find(b"\x00", name_off)
        if name_off >= len(strtab) or end < 0:
            continue
        names.append(strtab[name_off:end].decode("ascii", "replace"))
    return names
