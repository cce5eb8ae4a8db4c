"""Native quote provider plugins (``libdcap_quoteprov.so``, Intel's or Azure's): ``NativeProvider`` calls one
through its C ABI (``abi``); ``elf`` reads a library's exports without loading it."""

from pydcap.provider.native.provider import NativeProvider

__all__ = ["NativeProvider"]
