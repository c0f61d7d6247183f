"""Weather forecasts as a numerical weather prediction (NWP) service would issue them.

The platform has no NWP model; it emulates one: the forecast issued at step k for the interval
k + j − 1 (lead j steps, lead time j·Δ to the interval's end) is the true value plus a seeded error
whose spread grows with the lead time:

- outdoor temperature: additive error, standard deviation
  σ_T(L) = sqrt(σ₀² + (σ₂₄² − σ₀²)·L/24 h) up to one day, then + `t_growth_k_per_day` per day;
- global horizontal irradiance: an additive error on the clear-sky index k = GHI / GHI_clear
  (standard deviation σ_k(L), same shape), the result clipped to 0 ≤ k ≤ 1.2 and multiplied back
  by the clear-sky irradiance; where the sun is below ~50 W/m² clear-sky the true value is kept.

Errors are correlated along the lead (AR(1), `lead_corr_per_h` between neighbouring hours), so a
forecast is smoothly wrong, not white noise, and independent between issue times. The same seed
gives the same forecasts.

Defaults (`WeatherErrorParams`) follow published NWP skill for central Europe: 2 m temperature
RMSE of ECMWF's high-resolution forecast against stations ≈ 1.5 K at day 1, growing ≈ 0.3 K per
day (Haiden et al., "Evaluation of ECMWF forecasts", ECMWF Technical Memoranda 2021–2023), and
≈ 0.5 K for an analysis / nowcast; day-ahead GHI forecasts for single German sites with an RMSE of
≈ 35–40 % of the mean daytime irradiance (Lorenz et al., "Irradiance forecasting for the power
prediction of grid-connected photovoltaic systems", IEEE JSTARS 2(1), 2009), ≈ 20 % for hour-ahead
satellite nowcasts (Lorenz et al., Prog. Photovolt. 2016). σ_k at 24 h = 0.22 and at 0 h = 0.08
reproduce these relative errors on the synthetic weather (see docs/forecasting.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

WEATHER_QUANTITIES = ("t_out_c", "ghi_w_m2", "ghi_clear_w_m2")
CLEAR_SKY_MIN_W_M2 = 50.0
_STREAMS = {"t_out_c": 1, "ghi_w_m2": 2}


@dataclass(frozen=True)
class WeatherErrorParams:
    """Spread of the emulated NWP errors (see the module docstring for the sources)."""

    t_sigma_0_k: float = 0.5
    t_sigma_24h_k: float = 1.5
    t_growth_k_per_day: float = 0.3
    ghi_k_sigma_0: float = 0.08
    ghi_k_sigma_24h: float = 0.22
    ghi_k_growth_per_day: float = 0.03
    lead_corr_per_h: float = 0.9


def sigma_at(lead_h: np.ndarray, sigma_0: float, sigma_24h: float, growth_per_day: float) -> np.ndarray:
    """Error standard deviation at lead times `lead_h` (hours): square-root growth to one day,
    linear after."""
    lead = np.asarray(lead_h, dtype=float)
    first_day = np.sqrt(sigma_0**2 + (sigma_24h**2 - sigma_0**2) * np.clip(lead, 0.0, 24.0) / 24.0)
    result: np.ndarray = first_day + growth_per_day * np.clip(lead - 24.0, 0.0, None) / 24.0
    return result


@dataclass
class WeatherForecasts:
    """The NWP emulator on one time axis (step `step_s`): `truth` holds the true series, including
    the future (it is the weather service's, not a forecaster's), `ghi_clear_w_m2` the clear-sky
    irradiance (astronomy, known in advance). Forecasts reach up to `max_lead_steps` steps."""

    truth: Mapping[str, np.ndarray]
    ghi_clear_w_m2: np.ndarray
    step_s: int
    seed: int
    params: WeatherErrorParams = field(default_factory=WeatherErrorParams)
    max_lead_steps: int = 96
    _paths: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("t_out_c", "ghi_w_m2"):
            if name not in self.truth:
                raise ValueError(f"weather truth needs {name!r}")

    def _path(self, quantity: str, issue_index: int) -> np.ndarray:
        """Standardised errors over leads 1 … max_lead_steps of the forecast issued at `issue_index`."""
        key = (_STREAMS[quantity], issue_index)
        path = self._paths.get(key)
        if path is None:
            rho = self.params.lead_corr_per_h ** (self.step_s / 3600.0)
            eps = np.random.default_rng([self.seed, 48611, key[0], issue_index]).normal(
                size=self.max_lead_steps
            )
            path = np.empty(self.max_lead_steps)
            path[0] = eps[0]
            scale = np.sqrt(1.0 - rho**2)
            for j in range(1, self.max_lead_steps):
                path[j] = rho * path[j - 1] + scale * eps[j]
            if len(self._paths) > 20000:
                self._paths.clear()
            self._paths[key] = path
        return path

    def values_at(self, quantity: str, issue_index: np.ndarray, lead_steps: np.ndarray) -> np.ndarray:
        """Forecast values for rows (issue index, lead in steps ≥ 1); target = issue + lead − 1."""
        issue_index = np.asarray(issue_index, dtype=int)
        lead_steps = np.asarray(lead_steps, dtype=int)
        if lead_steps.size and (lead_steps.min() < 1 or lead_steps.max() > self.max_lead_steps):
            raise ValueError(f"lead steps must be within 1 … {self.max_lead_steps}")
        target = issue_index + lead_steps - 1
        clear = self.ghi_clear_w_m2[target]
        if quantity == "ghi_clear_w_m2":
            return np.asarray(clear, dtype=float)
        if quantity not in _STREAMS:
            raise KeyError(f"no weather forecast of {quantity!r}; have {', '.join(WEATHER_QUANTITIES)}")
        z = np.empty(len(target))
        for k in np.unique(issue_index):
            rows = issue_index == k
            z[rows] = self._path(quantity, int(k))[lead_steps[rows] - 1]
        lead_h = lead_steps * self.step_s / 3600.0
        p = self.params
        true = np.asarray(self.truth[quantity], dtype=float)[target]
        if quantity == "t_out_c":
            sigma_t = sigma_at(lead_h, p.t_sigma_0_k, p.t_sigma_24h_k, p.t_growth_k_per_day)
            result: np.ndarray = true + sigma_t * z
            return result
        sigma_k = sigma_at(lead_h, p.ghi_k_sigma_0, p.ghi_k_sigma_24h, p.ghi_k_growth_per_day)
        sunny = clear > CLEAR_SKY_MIN_W_M2
        index = np.where(sunny, true / np.where(sunny, clear, 1.0), 0.0)
        forecast_index = np.clip(index + sigma_k * z, 0.0, 1.2)
        ghi: np.ndarray = np.where(sunny, forecast_index * clear, true)
        return ghi

    def issued(self, quantity: str, issue_index: int, horizon_steps: int) -> np.ndarray:
        """The forecast issued at `issue_index` for its next `horizon_steps` intervals."""
        leads = np.arange(1, horizon_steps + 1)
        return self.values_at(quantity, np.full(horizon_steps, issue_index), leads)
