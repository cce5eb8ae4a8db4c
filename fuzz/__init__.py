"""Fuzzing pydcap's parsers, ``verify_quote``, admission and the PCCS's import (atheris): ``make fuzz``."""
