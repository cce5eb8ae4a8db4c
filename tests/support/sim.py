"""What the simulator tests share besides fixtures."""

from __future__ import annotations

from pydcap.sim import REFERENCE_TIME

# Verification happens an hour after the simulated Intel issued its collateral.
AT = int(REFERENCE_TIME.timestamp()) + 3600
