"""Checks of the synthetic weather against reference data, and the figure that shows them.

- `daily_clearness`: the daily clearness index K_t (a day's GHI over its extraterrestrial
  horizontal irradiation), the usual statistic for the climate of a place's days.
- `tmy_reference`: the typical meteorological year pvlib ships (TMY3 723170, Greensboro NC), the
  real data the generator's day-to-day statistics are compared with (the `greensboro` preset
  takes its monthly irradiation and temperatures from it).

`python -m simulators.sources.validation docs/weather-clearness.png` draws the daily clearness
distributions: the TMY against the synthetic `greensboro` years, and the synthetic Munich, Paris
and Madrid years.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from simulators.sources.climate import CLIMATES
from simulators.sources.weather import Site, synthetic_weather

TMY_FILE = "723170TYA.CSV"
TMY_TZ = "Etc/GMT+5"  # TMY3 times are local standard time (UTC−5 for Greensboro)
YEAR = 2023


@dataclass(frozen=True)
class ClearnessStats:
    """Summary of a year's daily clearness index."""

    mean: float
    std: float
    lag1: float
    p10: float
    p50: float
    p90: float


def daily_clearness(times: pd.DatetimeIndex, ghi_w_m2: np.ndarray, site: Site) -> np.ndarray:
    """Daily clearness index of an hourly series (`times` at mid-hour, whole days)."""
    extra = np.asarray(pvlib.irradiance.get_extra_radiation(times), dtype=float)
    zenith = pvlib.solarposition.get_solarposition(times, site.latitude_deg, site.longitude_deg)["zenith"]
    e0h = np.clip(np.cos(np.radians(np.asarray(zenith, dtype=float))), 0.0, None) * extra
    n_days = len(times) // 24
    day_ghi = np.asarray(ghi_w_m2, dtype=float)[: n_days * 24].reshape(n_days, 24).sum(axis=1)
    result: np.ndarray = day_ghi / e0h[: n_days * 24].reshape(n_days, 24).sum(axis=1)
    return result


def clearness_stats(k: np.ndarray) -> ClearnessStats:
    p10, p50, p90 = np.percentile(k, [10, 50, 90])
    lag1 = float(np.corrcoef(k[:-1], k[1:])[0, 1])
    return ClearnessStats(float(k.mean()), float(k.std()), lag1, float(p10), float(p50), float(p90))


def tmy_site() -> Site:
    c = CLIMATES["greensboro"]
    return Site(c.latitude_deg, c.longitude_deg, 273.0, TMY_TZ, "greensboro")


def tmy_reference() -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Mid-hour times and GHI (W/m²) of pvlib's Greensboro TMY3 (hour-ending stamps moved by −30 min)."""
    path = Path(pvlib.__file__).parent / "data" / TMY_FILE
    data, _ = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    times = pd.DatetimeIndex(data.index) - pd.Timedelta(minutes=30)
    return times, data["ghi"].to_numpy(dtype=float)


def synthetic_clearness(site: Site, seed: int) -> np.ndarray:
    """Daily clearness of the synthetic year `YEAR` at `site` (hourly, mid-hour)."""
    start = pd.Timestamp(f"{YEAR}-01-01 00:30", tz=site.tz)
    times = pd.date_range(start, periods=8760, freq="h")
    return daily_clearness(times, synthetic_weather(times, site, seed).ghi_w_m2, site)


def draw_figure(path: Path, seeds: tuple[int, ...] = (1, 2, 3)) -> None:
    """Histograms of the daily clearness index: TMY against synthetic, and the European presets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4), sharey=True)
    bins = np.linspace(0.0, 0.85, 18)
    times, ghi = tmy_reference()
    site = tmy_site()
    k_tmy = daily_clearness(times, ghi, site)
    left.hist(k_tmy, bins=bins, density=True, histtype="stepfilled", alpha=0.35, color="k",
              label=f"TMY3 Greensboro (lag-1 {clearness_stats(k_tmy).lag1:.2f})")
    for seed in seeds:
        k = synthetic_clearness(site, seed)
        left.hist(k, bins=bins, density=True, histtype="step", lw=1.2,
                  label=f"synthetic, seed {seed} (lag-1 {clearness_stats(k).lag1:.2f})")
    left.set_title("greensboro preset vs. measured typical year", fontsize=9)
    left.set_xlabel("daily clearness index K_t")
    left.set_ylabel("density")
    left.legend(fontsize=7, loc="upper left")
    for name, tz in (("munich", "Europe/Berlin"), ("paris", "Europe/Paris"), ("madrid", "Europe/Madrid")):
        c = CLIMATES[name]
        k = synthetic_clearness(Site(c.latitude_deg, c.longitude_deg, 300.0, tz, name), seeds[0])
        right.hist(k, bins=bins, density=True, histtype="step", lw=1.4, label=f"{name} (mean {k.mean():.2f})")
    right.set_title(f"synthetic presets, seed {seeds[0]}", fontsize=9)
    right.set_xlabel("daily clearness index K_t")
    right.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path("docs/weather-clearness.png")
    draw_figure(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
