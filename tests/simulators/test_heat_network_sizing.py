"""Plant sizing with the aggregated model (cosim/heat/sizing.py) on hand-checkable cases: the
capital-versus-fuel trade-off of a base-load source, and a store sized for a peak the sources
cannot cover."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.heat.sizing import SourceOption, StoreOption, size_plant

NO_STORE = StoreOption(invest_per_kwh=1.0, fixed_kwh=0.0)


@pytest.mark.parametrize(("hours", "cheap_kw"), [(10, 0.0), (100, 100.0)])
def test_a_cheap_fuel_pays_for_its_capital_only_over_enough_hours(hours: int, cheap_kw: float) -> None:
    # cheap: fuel 0.01/kWh, capital 1 per kW; dear: fuel 0.05/kWh, no capital. Over T hours at
    # 100 kW a kW of the cheap source saves 0.04·T: worth it for T = 100 (4 > 1), not for T = 10
    sources = [SourceOption("cheap", 0.01, 1.0, 0.0), SourceOption("dear", 0.05, 0.0, 0.0)]
    sized = size_plant(np.full(hours, 100.0), 1.0, sources, NO_STORE, annuity=1.0)
    assert sized.capacity_kw["cheap"] == pytest.approx(cheap_kw, abs=1e-6)
    assert sized.unserved_kwh == pytest.approx(0.0, abs=1e-6)
    assert sum(sized.heat_kwh.values()) == pytest.approx(100.0 * hours)


def test_a_store_covers_the_peak_a_fixed_source_cannot() -> None:
    # one source fixed at 100 kW, demand 200 kW in one hour of four: the store (no losses, 1 kW
    # per kWh) must deliver 100 kW then, so it needs 100 kWh, charged in the other hours
    sources = [SourceOption("boiler", 0.01, 0.0, 0.0, fixed_kw=100.0)]
    store = StoreOption(invest_per_kwh=0.001, p_per_kwh=1.0, eta=1.0, loss_per_h=0.0)
    sized = size_plant(np.array([0.0, 0.0, 200.0, 0.0]), 1.0, sources, store, annuity=1.0)
    assert sized.store_kwh == pytest.approx(100.0, abs=1e-6)
    assert sized.unserved_kwh == pytest.approx(0.0, abs=1e-6)
    assert sized.heat_kwh["boiler"] == pytest.approx(200.0, abs=1e-6)
