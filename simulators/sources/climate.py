"""Climate presets of the synthetic weather generator.

A climate is the long-term statistics the generator reproduces: monthly global horizontal
irradiation (kWh/m² per month), monthly mean outdoor temperature, the daily temperature range,
how the daily clearness scatters and persists, and the reference ranges a simulated year is
checked against (PV yield, degree days). The generator (`simulators.sources.weather`) draws a
seeded year whose monthly irradiation equals the climate's and whose daily clearness, day-to-day
persistence and temperature follow these parameters.

Presets (long-term means, rounded):

- `munich`: monthly GHI after the issue's reference climate (≈ DWD / PVGIS-SARAH for Munich,
  1,180 kWh/m²a), temperatures DWD 1991–2020 (München), design temperature −16 °C (DIN/TS 12831-1).
- `paris`: PVGIS-SARAH monthly GHI for Paris (≈ 1,165 kWh/m²a), Météo-France 1991–2020 normals
  (Orly), design temperature −7 °C.
- `madrid`: PVGIS-SARAH monthly GHI for Madrid (≈ 1,850 kWh/m²a), AEMET 1991–2020 normals
  (Retiro), design temperature −3 °C; the region's building practice for hot summers: massive
  construction (concrete slabs, brick walls and partitions: ISO 13790 "very heavy") and external
  roller shutters (persianas) lowered on sunlit facades (F_c 0.15 above 100 W/m²).

- `greensboro`: fitted to the typical meteorological year pvlib ships (TMY3 723170, Greensboro NC,
  1,566 kWh/m²a): the preset the generator's daily clearness distribution and persistence are
  checked against real data with (docs/weather.md), design temperature −9 °C (ASHRAE 99 %).

A site without a `climate` takes the preset whose reference location is nearest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

MONTHS = 12
ClimateName = Literal["munich", "paris", "madrid", "greensboro"]


@dataclass(frozen=True)
class Climate:
    """Long-term statistics of one climate (12-tuples run January to December)."""

    name: str
    latitude_deg: float
    longitude_deg: float
    ghi_kwh_m2_month: tuple[float, ...]
    t_mean_c_month: tuple[float, ...]
    t_day_amplitude_k: float = 4.5
    """Half the mean daily temperature range (K); clear days get more, overcast days less."""
    t_design_c: float = -12.0
    """Outdoor design temperature for heater sizing (°C, EN 12831)."""
    t_noise_std_k: float = 2.2
    t_noise_corr_per_h: float = 0.97
    t_cloud_k: float = 6.0
    """Temperature anomaly (K) per unit of daily clearness above the month's mean, in midsummer
    (clear summer days are warmer); the sign turns in winter (clear winter days are colder)."""
    clearness_concentration: float = 3.2
    """a + b of the Beta distribution of the daily clear-sky index (smaller: more spread)."""
    day_persistence: float = 0.4
    """Lag-one correlation (per day) of the latent Gaussian behind the daily clear-sky index."""
    hour_variability: float = 0.35
    """Scale of the hourly clear-sky index fluctuation within a day (largest on broken-cloud days)."""
    hour_persistence: float = 0.8
    pv_kwh_kwp_range: tuple[float, float] = (950.0, 1150.0)
    """Typical annual yield of a south-facing, 30° tilted roof system (kWh/kWp·a)."""
    construction: Literal["light", "medium", "heavy", "very_heavy"] = "medium"
    """The region's typical construction: the ISO 13790 mass class a building gets unless it sets
    `thermal_mass` (`simulators.building.thermal.MASS_CLASSES`)."""
    blind_factor: float = 0.25
    """F_c of the region's usual external solar protection when closed (a building's default):
    external venetian blinds 0.25 (DIN 4108-2)."""
    blind_threshold_w_m2: float = 150.0
    """Irradiance on a facade above which that protection is closed (a building's default)."""

    @property
    def ghi_kwh_m2_a(self) -> float:
        return float(sum(self.ghi_kwh_m2_month))

    def __post_init__(self) -> None:
        if len(self.ghi_kwh_m2_month) != MONTHS or len(self.t_mean_c_month) != MONTHS:
            raise ValueError(f"climate {self.name!r}: monthly values need 12 entries (January to December)")
        if min(self.ghi_kwh_m2_month) <= 0:
            raise ValueError(f"climate {self.name!r}: monthly irradiation must be positive")


CLIMATES: dict[str, Climate] = {
    "munich": Climate(
        "munich",
        48.14,
        11.58,
        (30.0, 50.0, 90.0, 130.0, 160.0, 170.0, 175.0, 150.0, 105.0, 65.0, 33.0, 22.0),
        (-0.3, 0.9, 4.8, 9.1, 13.5, 16.9, 18.8, 18.4, 14.1, 9.3, 4.2, 0.7),
        t_day_amplitude_k=4.5,
        t_design_c=-16.0,
        pv_kwh_kwp_range=(950.0, 1150.0),
    ),
    "paris": Climate(
        "paris",
        48.85,
        2.35,
        (30.0, 48.0, 92.0, 130.0, 155.0, 165.0, 170.0, 145.0, 105.0, 65.0, 34.0, 25.0),
        (4.9, 5.6, 8.8, 11.6, 15.2, 18.5, 20.7, 20.4, 16.9, 12.9, 8.2, 5.2),
        t_day_amplitude_k=4.0,
        t_design_c=-7.0,
        pv_kwh_kwp_range=(900.0, 1100.0),
    ),
    "madrid": Climate(
        "madrid",
        40.42,
        -3.70,
        (75.0, 95.0, 145.0, 180.0, 215.0, 240.0, 255.0, 225.0, 165.0, 115.0, 78.0, 63.0),
        (6.3, 7.9, 11.2, 13.3, 17.2, 22.6, 25.9, 25.4, 20.8, 15.3, 10.0, 7.0),
        t_day_amplitude_k=6.5,
        t_design_c=-3.0,
        t_cloud_k=5.0,
        pv_kwh_kwp_range=(1350.0, 1650.0),
        construction="very_heavy",
        blind_factor=0.15,
        blind_threshold_w_m2=100.0,
    ),
    "greensboro": Climate(
        "greensboro",
        36.10,
        -79.95,
        (74.8, 85.8, 131.8, 162.3, 174.7, 187.5, 188.6, 174.1, 132.8, 111.3, 73.0, 69.5),
        (0.3, 5.0, 11.4, 14.7, 19.0, 23.6, 25.4, 24.8, 20.1, 13.1, 10.8, 4.2),
        t_day_amplitude_k=5.3,
        t_design_c=-9.0,
        pv_kwh_kwp_range=(1250.0, 1500.0),
    ),
}


if tuple(CLIMATES) != get_args(ClimateName):  # pragma: no cover - a preset added to one only
    raise RuntimeError("CLIMATES and ClimateName must name the same presets")


def climate_named(name: str) -> Climate:
    """The preset called `name`; `ValueError` naming the presets otherwise."""
    try:
        return CLIMATES[name]
    except KeyError:
        raise ValueError(f"unknown climate {name!r}; allowed: {', '.join(CLIMATES)}") from None


def nearest_climate(latitude_deg: float, longitude_deg: float) -> Climate:
    """The preset whose reference location is nearest (great-circle distance)."""

    def distance(c: Climate) -> float:
        p1, p2 = math.radians(latitude_deg), math.radians(c.latitude_deg)
        dl = math.radians(longitude_deg - c.longitude_deg)
        cos_d = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
        return math.acos(max(-1.0, min(1.0, cos_d)))

    return min(CLIMATES.values(), key=distance)
