"""Deterministic synthetic district time series (no reference data), for examples and tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_timeseries(start: str = "2021-01-04 00:00", days: int = 14, seed: int = 0,
                         heat_scale_kw: float = 900.0, elec_base_kw: float = 500.0) -> pd.DataFrame:
    """Hourly heat and electricity demand (kW), irradiance (W/m²) and TOU/RTP/spot prices (CHF/kWh).

    Shapes: heat follows a winter-peaking seasonal cosine with a night-to-day profile; electricity
    has morning and evening peaks; irradiance is a clipped sine around noon scaled by season; the
    TOU price is 0.27 CHF/kWh Mon–Sat 06–22 h, else 0.14; the RTP price is a daily-shaped series
    with mean 0.214; the spot price has mean 0.04. Noise comes from ``numpy.random.default_rng(seed)``.
    """
    index = pd.date_range(start, periods=24 * days, freq="h")
    rng = np.random.default_rng(seed)
    n = index.size
    hod = index.hour.to_numpy()
    doy = index.dayofyear.to_numpy()
    winter = 0.5 * (1 + np.cos(2 * np.pi * (doy + 10) / 365))
    heat = 0.3 * heat_scale_kw + heat_scale_kw * winter * (1.1 - 0.3 * np.sin(np.pi * hod / 24))
    heat = np.clip(heat + rng.normal(0, 0.02 * heat_scale_kw, n), 0, None)
    elec = elec_base_kw * (1 + 0.5 * np.exp(-((hod - 19) ** 2) / 8) + 0.3 * np.exp(-((hod - 8) ** 2) / 4))
    elec = np.clip(elec + rng.normal(0, 0.02 * elec_base_kw, n), 0, None)
    clear = np.clip(np.sin(np.pi * (hod - 6) / 12), 0, None) * (350 + 500 * (1 - winter))
    irradiance = clear * rng.uniform(0.3, 1.0, days).repeat(24)
    workday = index.dayofweek.to_numpy() < 6
    tou = np.where((hod >= 6) & (hod < 22) & workday, 0.27, 0.14)
    spot = 0.04 + 0.015 * np.sin(np.pi * (hod - 3) / 12) + rng.normal(0, 0.005, n)
    rtp = 0.214 + (spot - spot.mean()) * 2.0
    return pd.DataFrame({
        "heat_demand_kw": heat.round(3),
        "elec_demand_kw": elec.round(3),
        "irradiance_w_per_m2": irradiance.round(2),
        "price_tou": tou,
        "price_rtp": rtp.round(5),
        "price_spot": spot.round(5),
        "price_fip": ((spot + 0.19) * 0.19 / np.mean(spot + 0.19)).round(5),
    }, index=pd.Index(index, name="time"))
