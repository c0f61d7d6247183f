"""Heat-pump performance against datasheet classes: EN 14511 test points, heating curve, defrost,
cooling EER."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.building import heatpump
from simulators.building.model import BuildingSpec

ETA = BuildingSpec().hp_carnot_eff


@pytest.mark.parametrize(
    ("t_out_c", "t_supply_c", "low", "high"),
    [(7.0, 35.0, 4.2, 5.0), (2.0, 35.0, 3.2, 4.0), (-7.0, 35.0, 2.6, 3.2), (7.0, 55.0, 2.6, 3.2)],
)
def test_default_cop_within_en14511_datasheet_ranges(t_out_c: float, t_supply_c: float, low: float,
                                                     high: float) -> None:
    assert low <= float(heatpump.cop(t_out_c, t_supply_c, ETA)) <= high


def test_defrost_dips_the_cop_around_freezing() -> None:
    t = np.array([-10.0, -4.0, 2.0, 8.0, 12.0])
    np.testing.assert_allclose(heatpump.defrost_penalty(t), [0.0, 0.0, heatpump.DEFROST_PEAK, 0.0, 0.0])
    # without defrost the COP would fall monotonically with the lift; at +2 C it is below the trend
    plain = ETA * (35 + 273.15) / (35 - np.array([-2.0, 2.0, 6.0]))
    with_defrost = heatpump.cop(np.array([-2.0, 2.0, 6.0]), 35.0, ETA)
    assert with_defrost[1] / plain[1] < with_defrost[0] / plain[0]
    assert with_defrost[1] / plain[1] < with_defrost[2] / plain[2]


def test_heating_curve() -> None:
    design = -16.0
    t_out = np.array([-20.0, -16.0, -7.0, 15.0, 25.0])
    curve = heatpump.heating_curve_c(t_out, 35.0, design)
    assert curve[0] == 35.0 and curve[1] == pytest.approx(35.0)  # capped at the design supply
    assert curve[2] == pytest.approx(20.0 + 15.0 * 27.0 / 36.0)
    assert curve[3] == heatpump.T_SUPPLY_MIN_C and curve[4] == heatpump.T_SUPPLY_MIN_C
    # a radiator system runs hotter, and the heating curve raises the COP on mild days
    assert heatpump.heating_curve_c(-7.0, 55.0, design) > curve[2]
    assert heatpump.cop(-7.0, curve[2], ETA) > heatpump.cop(-7.0, 35.0, ETA)


def test_cooling_eer() -> None:
    assert float(heatpump.eer(35.0)) == pytest.approx(0.3 * 291.15 / 17.0)
    assert float(heatpump.eer(20.0)) == heatpump.EER_MAX
    assert np.all(np.diff(heatpump.eer(np.array([25.0, 30.0, 35.0, 40.0]))) <= 0)
