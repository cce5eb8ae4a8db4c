"""Helpers shared by the tests (imported as a library, unlike ``conftest``, which only pytest loads)."""
