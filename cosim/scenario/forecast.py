"""The scenario's `forecast:` section: which forecaster predicts each uncontrolled quantity.

```yaml
forecast:
  kind: gbt                 # demand and PV (default for every building quantity)
  params: {max_iter: 150}
  quantities:               # per-quantity overrides (dhw_th_kw: hot-water heat, with tanks)
    pv_kw: {kind: seasonal_naive, params: {period: day}}
    t_out_c: {kind: nwp}    # the weather service's forecast (the default for weather)
    import_per_kwh: {kind: seasonal_naive}  # real-time prices forecast from the published history
  weather: {t_sigma_24h_k: 1.5}   # errors of the emulated weather forecasts
  history_days: 28          # history before the start the forecasters train on
  retrain_every_h: 24       # retrain on everything seen so far (none: train once)
  record_leads_h: [1, 6, 24]
  intervals: false          # also issue (and record) the 10 % / 90 % quantiles: ~10× the training time
```

Without the section the controllers get perfect forecasts (the twin of the simulators), as before.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from forecasting import REGISTRY, WeatherErrorParams

BUILDING_QUANTITIES = ("p_base_kw", "pv_kw")
HOT_WATER_QUANTITY = "dhw_th_kw"  # forecast only in districts with hot-water tanks (their controllers')
WEATHER_QUANTITIES = ("t_out_c", "ghi_w_m2")
PRICE_QUANTITY = "import_per_kwh"  # forecast only when `quantities` names it (else the tariff as published)
NWP_KIND = "nwp"
Quantity = Literal["p_base_kw", "pv_kw", "dhw_th_kw", "t_out_c", "ghi_w_m2", "import_per_kwh"]


def _check_kind(kind: str, params: dict[str, Any], weather: bool) -> None:
    allowed = sorted(k for k in REGISTRY if weather or k != NWP_KIND)
    if kind not in allowed:
        where = "a weather quantity" if weather else "demand or PV"
        raise ValueError(f"unknown forecaster kind {kind!r} for {where}; allowed: {', '.join(allowed)}")
    if kind == NWP_KIND and params:
        raise ValueError("the nwp forecaster takes no params (set its errors under forecast.weather)")
    REGISTRY[kind].Params(**params)


class QuantityForecast(BaseModel):
    """One quantity's forecaster: a registered kind and its parameters."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    params: dict[str, Any] = {}


class WeatherErrors(BaseModel):
    """Spread of the emulated weather forecasts' errors (forecasting.weather.WeatherErrorParams)."""

    model_config = ConfigDict(extra="forbid")

    t_sigma_0_k: float = Field(default=WeatherErrorParams.t_sigma_0_k, ge=0)
    t_sigma_24h_k: float = Field(default=WeatherErrorParams.t_sigma_24h_k, ge=0)
    t_growth_k_per_day: float = Field(default=WeatherErrorParams.t_growth_k_per_day, ge=0)
    ghi_k_sigma_0: float = Field(default=WeatherErrorParams.ghi_k_sigma_0, ge=0)
    ghi_k_sigma_24h: float = Field(default=WeatherErrorParams.ghi_k_sigma_24h, ge=0)
    ghi_k_growth_per_day: float = Field(default=WeatherErrorParams.ghi_k_growth_per_day, ge=0)
    lead_corr_per_h: float = Field(default=WeatherErrorParams.lead_corr_per_h, ge=0, lt=1)

    def params(self) -> WeatherErrorParams:
        return WeatherErrorParams(**self.model_dump())


class ForecastConfig(BaseModel):
    """The scenario's forecasters (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "gbt"
    params: dict[str, Any] = {}
    quantities: dict[Quantity, QuantityForecast] = {}
    weather: WeatherErrors = WeatherErrors()
    history_days: int = Field(28, ge=9, le=400)
    retrain_every_h: PositiveFloat | None = None
    record_leads_h: list[PositiveFloat] = [1.0, 6.0, 24.0]
    intervals: bool = False

    @model_validator(mode="after")
    def _kinds(self) -> ForecastConfig:
        _check_kind(self.kind, self.params, weather=False)
        for name, spec in self.quantities.items():
            _check_kind(spec.kind, spec.params, weather=name in WEATHER_QUANTITIES)
        return self

    def spec(self, quantity: str) -> QuantityForecast:
        """The forecaster of `quantity`: its override, else the section's kind (nwp for weather)."""
        if quantity in self.quantities:
            return self.quantities[quantity]
        if quantity in WEATHER_QUANTITIES:
            return QuantityForecast(kind=NWP_KIND)
        return QuantityForecast(kind=self.kind, params=self.params)

    def forecasts_prices(self) -> bool:
        """Whether the controllers get forecast import prices (the section names `import_per_kwh`)."""
        return PRICE_QUANTITY in self.quantities

    def all_perfect(self) -> bool:
        quantities = (*BUILDING_QUANTITIES, HOT_WATER_QUANTITY, *WEATHER_QUANTITIES,
                      *((PRICE_QUANTITY,) if self.forecasts_prices() else ()))
        return all(self.spec(q).kind == "perfect" for q in quantities)
