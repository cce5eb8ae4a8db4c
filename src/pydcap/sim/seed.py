"""The seed that names a simulated world, the same default everywhere: ``pydcap sim serve``, ``sim quote``,
``sim collateral``, the host API's simulated platform and the demo all use ``$PYDCAP_SIM_SEED``, else 0
(``SimulatedIntel()``'s own default), so what one of them simulates the others recognise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_SEED = 0
SEED_ENV = "PYDCAP_SIM_SEED"


def default_seed(env: Mapping[str, str] | None = None) -> int:
    """``$PYDCAP_SIM_SEED`` as a whole number, else ``DEFAULT_SEED``; ``ValueError`` names a bad value."""
    value = (os.environ if env is None else env).get(SEED_ENV, "").strip()
    if not value:
        return DEFAULT_SEED
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={value!r} is not a number") from None
