"""Scenario files: YAML validated by pydantic. Unknown keys and bad values are errors that name the
file, the field path and what is allowed.

A scenario describes one run: calendar (start, duration, steps), the site, the sources (weather,
prices), the buildings (in groups of identical specification; each building still gets its own
seeded demand variation), standalone storage, the low-voltage grid, the controller and the
outputs. See `scenarios/demo.yaml` for a commented example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from controllers.plugin import ControllerError, controller_class, resolve_kind_path, validate_params
from cosim.scenario.attacks import AttackConfig, DetectionConfig, Sensors, check_attacks
from cosim.scenario.forecast import ForecastConfig
from simulators.building.model import BuildingSpec, heater_capacity_kw
from simulators.building.presets import DEFAULT_TYPE, PRESETS, BuildingType, with_preset
from simulators.heat_network.params import (
    ControlParams,
    DispatchParams,
    SolverParams,
    SourceParams,
    StoreParams,
)
from simulators.solar_thermal.params import SolarThermalSpec
from simulators.sources.climate import ClimateName
from simulators.sources.model import site_from
from simulators.storage.model import StorageParams

BUILTIN_KINDS = ("none", "rule_based", "admm", "mpc")
PREDICTIVE_KINDS = ("admm", "mpc")  # district model-predictive control: forecasts, a horizon, a shared limit

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|h|d|w)\s*$")
_UNIT_S = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800}

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]


def parse_duration_s(value: Any) -> int:
    """Seconds from an int (seconds) or a string such as '15min', '24h', '7d', '1w'."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 900, '15min', '24h' or '7d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 900, '15min', '24h' or '7d', got {value!r}")
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError(f"a duration must be a positive whole number of seconds, got {value!r}")
    return int(seconds)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(Strict):
    """Location and climate of the district. `climate`: a preset of the synthetic weather
    (`simulators.sources.climate`; None: the nearest to the location). `heating_degree_days_kd`:
    None (default) calibrates the buildings against the site's weather, gains included; a number
    uses the plain energy signature with these degree days (no gains)."""

    latitude_deg: Annotated[float, Field(ge=-90, le=90)] = 48.14
    longitude_deg: Annotated[float, Field(ge=-180, le=180)] = 11.58
    altitude_m: float = 520.0
    climate: ClimateName | None = None
    heating_degree_days_kd: PositiveFloat | None = None


class WeatherSource(Strict):
    """`synthetic` (seeded, no files needed), `csv` (columns time, t_out_c, ghi_w_m2 and optionally
    dni_w_m2, dhi_w_m2, wind_m_s) or `tmy` (a typical-year file: TMY3, EnergyPlus EPW or PVGIS TMY,
    laid over the run's year; `simulators/sources/typical_year.py`)."""

    kind: Literal["synthetic", "csv", "tmy"] = "synthetic"
    path: Path | None = None

    @model_validator(mode="after")
    def _path_for_csv(self) -> WeatherSource:
        if self.kind in ("csv", "tmy") and self.path is None:
            raise ValueError(f"kind '{self.kind}' needs a path")
        return self


class Tou(Strict):
    day_price_per_kwh: NonNegativeFloat = 0.27
    night_price_per_kwh: NonNegativeFloat = 0.14
    start_h: Annotated[int, Field(ge=0, le=24)] = 6
    end_h: Annotated[int, Field(ge=0, le=24)] = 22
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = [0, 1, 2, 3, 4, 5]


class PriceSource(Strict):
    """Import price kind (`flat`, `tou`, `rtp` synthetic with mean `price_per_kwh`, `csv`), flat
    export price, grid carbon intensity, and the gas price and carbon factor for boilers."""

    kind: Literal["flat", "tou", "rtp", "csv"] = "flat"
    price_per_kwh: NonNegativeFloat = 0.30
    export_per_kwh: NonNegativeFloat = 0.08
    co2_kg_per_kwh: NonNegativeFloat = 0.35
    gas_per_kwh: NonNegativeFloat = 0.09
    gas_co2_kg_per_kwh: NonNegativeFloat = 0.198
    tou: Tou | None = None
    path: Path | None = None

    @model_validator(mode="after")
    def _path_for_csv(self) -> PriceSource:
        if self.kind == "csv" and self.path is None:
            raise ValueError("kind 'csv' needs a path")
        return self


class Sources(Strict):
    weather: WeatherSource = WeatherSource()
    prices: PriceSource = PriceSource()


class StorageUnit(StorageParams):
    """A battery or hot-water tank: the storage simulator's own parameters
    (`simulators.storage.model.StorageParams`; defaults from the price-policy study's technology
    table), with the capacity required."""

    capacity_kwh: PositiveFloat


class BuildingGroup(BuildingSpec):
    """`count` buildings of one kind: the building simulator's own parameters (`BuildingSpec`, one
    definition) plus what a group adds. Unset demands come from the `type` preset; space heating
    from `space_heating_kwh_m2a` × floor area when `space_heating_kwh_a` is not given; the initial
    indoor temperature is the thermostat's. `heating`: `heat_pump`, `gas_boiler`, or `district` (a
    substation on the scenario's `heat_network`). `solar_thermal`: each building's collectors and
    their store (`simulators.solar_thermal`), feeding its hot water, then its space heating."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
    count: Annotated[int, Field(ge=1, le=100000)] = 1
    type: BuildingType = DEFAULT_TYPE
    space_heating_kwh_m2a: NonNegativeFloat | None = None
    battery: StorageUnit | None = None
    tank: StorageUnit | None = None
    solar_thermal: SolarThermalSpec | None = None
    buses: list[int] | None = Field(default=None, description="explicit grid buses, one per building")
    external: bool = Field(
        default=False, description="hardware in the loop: a device on MQTT plays these buildings"
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """Fill the demands the group does not set from its `type` preset (`simulators.building.presets`,
        the building simulator's own; before validation, so the values are checked like given ones)."""
        building_type = data.get("type", DEFAULT_TYPE) if isinstance(data, dict) else None
        if not isinstance(building_type, str) or building_type not in PRESETS:
            return data  # an unknown type is reported by its field
        return with_preset(data, building_type)

    @model_validator(mode="after")
    def _consistent(self) -> BuildingGroup:
        if self.external and self.tank is not None:
            raise ValueError("an external building cannot have a simulated hot-water tank")
        if self.external and self.solar_thermal is not None:
            raise ValueError("an external building cannot have simulated solar-thermal collectors")
        if self.external and self.heating == "district":
            raise ValueError("an external building cannot be district-heated: its substation is fed by the "
                             "simulated building's heat demand (use heating heat_pump or gas_boiler)")
        if self.buses is not None and len(self.buses) != self.count:
            raise ValueError(f"buses lists {len(self.buses)} buses for {self.count} buildings")
        return self

    def names(self) -> list[str]:
        """Display names of the group's buildings: the group name, numbered when there are several."""
        return [self.name] if self.count == 1 else [f"{self.name}-{k + 1:03d}" for k in range(self.count)]

    def building_spec(self) -> dict[str, Any]:
        """The `BuildingSpec` fields of one building of this group, as a plain dict."""
        return {name: getattr(self, name) for name in BuildingSpec.model_fields}


class HeatNetworkConfig(Strict):
    """The district heating network that serves every building with `heating: district`
    (`simulators.heat_network`; docs/heat_network.md). One substation per such building, in
    scenario order, sized to the building's heater capacity; a parametric layout of `length_m` of
    streets (a main street, `trunk_share` of the length, and `n_streets` side streets; supply and
    return pipes along all of it). `sources`: the plant's heat sources in any order (dispatched in
    merit order of their price per kWh of heat; prices in the scenario's currency); default the
    urban-planning study's case B plant (wood 1.2 MW, gas 0.8 MW). `store`: the plant's heat store
    (none by default). `control`: supply-temperature curve and substation settings; `solver`:
    pandapipes' limits and the pump; `dispatch`: the store's operation (merit-order rule or MPC).
    `insulation_series` (EN 253 series 1, 2, 3; unset: the default loss fit, about series 1) and
    `twin_pipes` (supply and return in one casing up to DN200): the pipes' heat-loss coefficients.
    `bus`: the grid bus the plant's circulation pump draws from (unset: the feeder's next
    house-connection bus, as for a building)."""

    length_m: PositiveFloat = 1000.0
    n_streets: Annotated[int, Field(ge=1)] | None = None
    trunk_share: Annotated[float, Field(gt=0, lt=1)] = 0.3
    v_design_m_s: PositiveFloat = 1.0
    insulation_series: Literal[1, 2, 3] | None = None
    twin_pipes: bool = False
    sources: Annotated[list[SourceParams], Field(min_length=1)] | None = None
    store: StoreParams | None = None
    control: ControlParams = ControlParams()
    solver: SolverParams = SolverParams()
    dispatch: DispatchParams = DispatchParams()
    bus: Annotated[int, Field(ge=0)] | None = None

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, sources: list[SourceParams] | None) -> list[SourceParams] | None:
        if sources is None:
            return None
        names = [src.name for src in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"heat source names must be unique, got {names}")
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", n)]
        if bad:
            raise ValueError(f"heat source names must be letters, digits, '_' or '-', starting with a "
                             f"letter; got {bad}")
        return sources

    def network_params(self, design_kw: list[float]) -> dict[str, Any]:
        """The `params` of the simulator's `HeatNetwork` entity (`simulators.heat_network.params`)
        for substations of these design loads (kW, one per district-heated building)."""
        params: dict[str, Any] = {
            "layout": {
                "n_substations": len(design_kw),
                "total_length_m": self.length_m,
                "design_kw": design_kw,
                "n_streets": self.n_streets,
                "trunk_share": self.trunk_share,
                "v_design_m_s": self.v_design_m_s,
                "insulation_series": self.insulation_series,
                "twin_pipes": self.twin_pipes,
            },
            "control": self.control.model_dump(),
            "solver": self.solver.model_dump(),
            "dispatch": self.dispatch.model_dump(),
        }
        if self.sources is not None:
            params["sources"] = [src.model_dump() for src in self.sources]
        if self.store is not None:
            params["store"] = self.store.model_dump()
        return params


class StandaloneStorage(StorageUnit):
    """A battery connected directly to a grid bus (not behind a building's meter)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
    bus: Annotated[int, Field(ge=0)]


class Grid(Strict):
    """The low-voltage feeder. Buildings are mapped to the feeder's load buses round-robin unless a
    group lists its `buses`."""

    network: str = "kerber_vorstadtnetz_kabel_1"
    backend: Literal["auto", "pandapower", "lightsim2grid"] = "auto"
    transformer_limit_kw: PositiveFloat | None = Field(
        default=None, description="limit on the district's net import and export (Σ of the meters, ±kW)"
    )
    v_min_pu: PositiveFloat = 0.95
    v_max_pu: PositiveFloat = 1.05

    @field_validator("network")
    @classmethod
    def _known_network(cls, name: str) -> str:
        from simulators.grid.networks import available_networks

        allowed = available_networks()
        if name not in allowed:
            raise ValueError(f"unknown network {name!r}; allowed: {', '.join(allowed)}")
        return name


class AdmmConfig(Strict):
    """ADMM model-predictive control: horizon, an optional peak-import price and the coordinator's
    settings. The shared limit is the grid's `transformer_limit_kw`. Over MQTT the coordinator
    waits at most `round_timeout_s` for the agents' answers in a round (a missing answer is
    replaced by the agent's last value) and ends a step's rounds after `step_deadline_s`
    (default: 0.8 × `controller.step_timeout_s`, so that it decides before the bridge stops
    waiting); the fallback is then recorded. `centralised_check`
    also solves each step's centralised MPC (cvxpy; slow) and records the optimality gap.
    `voltage` also keeps the buildings' bus voltages in [grid.v_min_pu, grid.v_max_pu] with linear
    sensitivities of the feeder refreshed every control step (`cosim.control.voltage`); with
    `voltage_violation_price_per_pu` that band is soft (each pu a bus leaves it in a step costs that
    much), so a band that cannot be held is left as little as it pays instead of stalling the rounds
    until the fallback."""

    horizon: int = 86400
    peak_price_per_kw: Annotated[float, Field(ge=0)] = 0.0
    rho: PositiveFloat = 0.01
    eps_abs: PositiveFloat = 1e-4
    eps_rel: Annotated[float, Field(ge=0)] = 1e-4
    max_iterations: Annotated[int, Field(ge=1)] = 300
    round_timeout_s: PositiveFloat = 2.0
    step_deadline_s: PositiveFloat | None = None
    centralised_check: bool = False
    voltage: bool = False
    voltage_violation_price_per_pu: PositiveFloat | None = None

    @field_validator("horizon", mode="before")
    @classmethod
    def _horizon(cls, value: Any) -> int:
        return parse_duration_s(value)


class MpcConfig(Strict):
    """Centralised model-predictive control (kind `mpc`): the whole district's problem solved in one
    piece every control step with cvxpy (`solver`: any cvxpy solver installed; CLARABEL by default),
    the same objective and constraints ADMM shares out. Horizon and peak-import price as for ADMM;
    the shared limit is the grid's `transformer_limit_kw`. Runs in process (`transport: inprocess`)."""

    horizon: int = 86400
    peak_price_per_kw: Annotated[float, Field(ge=0)] = 0.0
    solver: Annotated[str, Field(pattern=r"^[A-Z_]+$")] = "CLARABEL"

    @field_validator("horizon", mode="before")
    @classmethod
    def _horizon(cls, value: Any) -> int:
        return parse_duration_s(value)


class Controller(Strict):
    """Which controller runs and how it is reached.

    kind: `none` (thermostats, batteries idle), `rule_based` (battery self-consumption; with
    `dsm`, flexible load curtailed in [dsm_start_h, dsm_end_h) and restored before the buildings'
    deadline), `admm` (settings in `admm`), `mpc` (centralised MPC, settings in `mpc`, in process), or
    a controller plug-in (`controllers.plugin`): a
    registered name, `package.module:Class` or `path/to/file.py:Class` (relative to the scenario
    file), with its parameters in `params` (validated against the plug-in's `Params`).
    transport: `mqtt` (one agent per building on a broker) or `inprocess` (the same controllers
    called directly, no broker). mode: `lockstep` (wait for every agent; reproducible)
    or `realtime` (wall-clock pacing at `realtime_factor` simulated seconds per second; each step
    has a deadline, late setpoints fall back and are recorded). With MQTT:
    `broker` (mqtt://host:port; none = the platform starts one), `agents` as `tasks` in the run's
    process, all in one separate `worker` process (on one shared connection; uses a second core) or
    as `processes` (one per agent), or `external` (none started: a controller of yours connects as
    the agents, in any language; the run waits `ready_timeout_s` for it; docs/controllers.md),
    `qos`, and `step_timeout_s` after which a late agent's last setpoint is used. `batch` (agents
    `tasks` or `worker`): the bridge sends the measurements (and forecasts) of all agents in one
    message per step and they answer in one, instead of one message per agent each way (same
    setpoints and results; `mqtt_messages` then holds one row per batch; see docs/mqtt.md). Unset,
    batches are used wherever they apply; `batch: false` keeps one message per agent each way.
    """

    kind: Annotated[str, Field(min_length=1)] = "none"
    params: dict[str, Any] = {}
    admm: AdmmConfig | None = None
    mpc: MpcConfig | None = None
    dsm: bool = True
    dsm_start_h: Annotated[int, Field(ge=0, le=23)] = 17
    dsm_end_h: Annotated[int, Field(ge=1, le=24)] = 20
    transport: Literal["mqtt", "inprocess"] = "mqtt"
    broker: Annotated[str, Field(pattern=r"^mqtts?://")] | None = None
    agents: Literal["tasks", "worker", "processes", "external"] = "tasks"
    batch: bool | None = None
    qos: Literal[0, 1] = 1
    step_timeout_s: PositiveFloat = 10.0
    mode: Literal["lockstep", "realtime"] = "lockstep"
    run_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    ready_timeout_s: PositiveFloat = 60.0
    realtime_factor: PositiveFloat = 1.0

    @field_validator("kind")
    @classmethod
    def _plugin_kind(cls, kind: str, info: ValidationInfo) -> str:
        if kind in BUILTIN_KINDS:
            return kind
        base = (info.context or {}).get("base_dir")
        kind = resolve_kind_path(kind, Path(base) if base is not None else Path.cwd())
        try:
            controller_class(kind)
        except ControllerError as exc:
            raise ValueError(str(exc)) from None
        return kind

    @field_validator("params")
    @classmethod
    def _plugin_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is wrong, reported on its own
            return params
        if kind in BUILTIN_KINDS:
            if params:
                settings = {"none": "none", "rule_based": "dsm, dsm_start_h, dsm_end_h",
                            "admm": "the `admm` section", "mpc": "the `mpc` section"}
                raise ValueError(f"kind {kind!r} takes no `params`; its settings: {settings[kind]}")
            return params
        try:
            validate_params(kind, params)
        except ControllerError as exc:
            raise ValueError(str(exc)) from None
        return params

    @model_validator(mode="after")
    def _admm(self) -> Controller:
        if self.kind == "mpc":
            if self.mpc is None:
                raise ValueError(
                    "kind 'mpc' needs an `mpc` section (horizon, peak_price_per_kw, solver; may be empty: {})"
                )
            if self.transport != "inprocess":
                raise ValueError("kind 'mpc' is the centralised controller and runs in process: set "
                                 "`transport: inprocess`")
        if self.kind == "admm":
            if self.admm is None:
                raise ValueError("kind 'admm' needs an `admm` section (horizon, settings; may be empty: {})")
            deadline = self.admm.step_deadline_s
            if self.transport == "mqtt" and deadline is not None and deadline >= self.step_timeout_s:
                raise ValueError(
                    f"controller.admm.step_deadline_s ({deadline} s) must be shorter than "
                    f"controller.step_timeout_s ({self.step_timeout_s} s), or the bridge gives up first"
                )
        if self.mode == "realtime" and self.transport != "mqtt":
            raise ValueError("real-time mode paces MQTT agents: set `transport: mqtt`")
        if self.agents == "external":
            if self.transport != "mqtt":
                raise ValueError(
                    "`agents: external` connects a controller of yours over MQTT: set `transport: mqtt`"
                )
            if self.kind == "admm":
                raise ValueError(
                    "`agents: external` takes the place of building controllers; ADMM runs its own "
                    "agents and coordinator (use agents: tasks, worker or processes)"
                )
        # asked for explicitly: say why it cannot apply
        if self.batch and (self.transport != "mqtt" or self.agents in ("processes", "external")):
            raise ValueError(
                "`batch` needs MQTT agents on one shared connection: transport 'mqtt', agents 'tasks' "
                f"or 'worker' (got transport {self.transport!r}, agents {self.agents!r})"
            )
        return self

    @property
    def batches(self) -> bool:
        """Whether the bridge talks to the agents in batches: `batch` if given, else wherever batches
        apply (MQTT agents as `tasks` or `worker`)."""
        if self.batch is not None:
            return self.batch
        return self.transport == "mqtt" and self.agents in ("tasks", "worker")


class PlannerSource(Strict):
    """Plans made by the energy-hub planner for every building before the run (`cosim.plans.source`):
    `policy` is `scenario` (the scenario's import and export prices) or a planner policy name
    (none, fit, fip, nm, rtp, tou, nm+tou); heat is planned to hold the indoor temperature
    `margin_k` above the comfort minimum. `replan_hour`: re-plan every day at this local hour (the
    first plan at the start of the run), each plan over `horizon_h` hours from its issue time, on the
    forecasts issued then and the states measured then (`cosim.plans.replan`); unset: one plan over
    the whole run, made at its start."""

    policy: str = "scenario"
    margin_k: Annotated[float, Field(ge=0, le=5)] = 0.5
    replan_hour: Annotated[int, Field(ge=0, le=23)] | None = None
    horizon_h: Annotated[float, Field(ge=24, le=48)] = 36.0


class PlanConfig(Strict):
    """Plans handed down to the real-time controllers (ADMM agents track them).

    Exactly one source: `file`, a plan set in the platform's versioned format
    (`controllers.plans.PlanSet`, as written by `cosim plan --plans-day` or any tool; relative to
    the scenario file), or `planner`, day-ahead plans made by the energy-hub planner for every
    building at the start of the run. `assets` maps a building to the plan asset it tracks
    (default: the asset named like the building); `series` names the tracked quantity, the
    building's net power at the meter in kW (positive = import). Each ADMM agent adds
    `weight_per_kw2` · Σ_k (p_net,k − p_plan,k)² to its cost over its horizon (steps after the
    plan's end track its last value). Plans are published as retained MQTT messages and stored
    with the results (`plans.json`).
    """

    file: Path | None = None
    planner: PlannerSource | None = None
    weight_per_kw2: Annotated[float, Field(ge=0)] = 0.05
    series: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = "p_kw"
    assets: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_source(self) -> PlanConfig:
        if (self.file is None) == (self.planner is None):
            raise ValueError("give exactly one plan source: `file` (a saved plan set) or `planner: {}`")
        return self


class Execution(Strict):
    """`processes: true` runs every simulator in its own process (mosaik `cmd`)."""

    processes: bool = False


class Outputs(Strict):
    """Where results go (`dir`; unset: `results/<scenario name>`). Tables are flushed every
    `flush_every_steps` steps when set, otherwise every `flush_interval_s` seconds of wall time (and
    always on errors, Ctrl-C and SIGTERM)."""

    dir: Path = Path("results")
    flush_every_steps: Annotated[int, Field(ge=1)] | None = None
    flush_interval_s: PositiveFloat = 2.0


class Scenario(Strict):
    """One co-simulation run."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    start: str = "2024-01-15T00:00:00"
    timezone: str = "Europe/Berlin"
    duration: int = 86400
    step: int = 900
    control_step: int = 900
    seed: Annotated[int, Field(ge=0)] = 0
    site: Site = Site()
    sources: Sources = Sources()
    buildings: Annotated[list[BuildingGroup], Field(min_length=1)]
    storage: list[StandaloneStorage] = []
    grid: Grid = Grid()
    heat_network: HeatNetworkConfig | None = None
    controller: Controller = Controller()
    plan: PlanConfig | None = None
    forecast: ForecastConfig | None = None  # cosim/scenario/forecast.py; none: perfect forecasts
    attacks: list[AttackConfig] = []  # cosim/scenario/attacks.py
    detection: DetectionConfig | None = None
    sensors: Sensors | None = None  # noise on what controllers measure (cosim/scenario/attacks.py)
    execution: Execution = Execution()
    outputs: Outputs = Outputs()

    @field_validator("duration", "step", "control_step", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return parse_duration_s(value)

    @field_validator("controller", mode="before")
    @classmethod
    def _controller_shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        import pandas as pd

        try:
            pd.Timestamp(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'"
            ) from exc
        return value

    @model_validator(mode="after")
    def _admm_steps(self) -> Scenario:
        kind = self.controller.kind
        settings = {"admm": self.controller.admm, "mpc": self.controller.mpc}.get(kind)
        if settings is not None:
            if self.grid.transformer_limit_kw is None:
                raise ValueError(
                    f"controller kind {kind!r} coordinates a shared limit: set grid.transformer_limit_kw"
                )
            if self.control_step != self.step:
                raise ValueError(f"controller kind {kind!r} needs control_step == step")
            if settings.horizon % self.control_step or settings.horizon < 2 * self.control_step:
                raise ValueError(
                    f"controller.{kind}.horizon must be a multiple of control_step, at least two steps"
                )
        return self

    @model_validator(mode="after")
    def _steps(self) -> Scenario:
        if self.control_step % self.step:
            raise ValueError(
                f"control_step ({self.control_step} s) must be a multiple of step ({self.step} s)"
            )
        if self.duration % self.step:
            raise ValueError(f"duration ({self.duration} s) must be a multiple of step ({self.step} s)")
        names = [g.name for g in self.buildings] + [s.name for s in self.storage]
        if len(set(names)) != len(names):
            raise ValueError(f"building group and storage names must be unique, got {names}")
        if self.plan is not None and self.controller.kind not in PREDICTIVE_KINDS:
            raise ValueError("plans are tracked by the model-predictive controllers: `plan` needs "
                             "controller.kind 'admm' or 'mpc'")
        return self

    @model_validator(mode="after")
    def _attacks(self) -> Scenario:
        check_attacks(self)
        return self

    @model_validator(mode="after")
    def _heat_network(self) -> Scenario:
        district = [f"buildings.{k}.heating" for k, g in enumerate(self.buildings) if g.heating == "district"]
        if district and self.heat_network is None:
            raise ValueError(
                f"{district[0]} is 'district' but the scenario has no `heat_network` section: add one "
                "(length_m, sources, store, bus; docs/heat_network.md) or heat these buildings with "
                "heat_pump or gas_boiler"
            )
        if self.heat_network is not None and not district:
            raise ValueError(
                "heat_network: no building group has `heating: district`, so the network would serve "
                "nobody; set `heating: district` on the groups it serves, or remove the section"
            )
        if self.heat_network is not None:
            _check_heat_network(self)
        return self

    def district_design_kw(self) -> list[float]:
        """Heater capacity (kW) of every district-heated building, in scenario order: the design
        loads of the heat network's substations."""
        design: list[float] = []
        for group in self.buildings:
            if group.heating == "district":
                spec = BuildingSpec.from_dict(group.building_spec())
                site = site_from({**self.site.model_dump(exclude={"heating_degree_days_kd"}),
                                  "tz": self.timezone})
                one = float(heater_capacity_kw([spec], self.site.heating_degree_days_kd, site)[0])
                design += [one] * group.count
        return design

    def heat_network_params(self) -> dict[str, Any]:
        """The heat network's `params` for the simulator (see `HeatNetworkConfig.network_params`)."""
        if self.heat_network is None:
            raise ValueError("the scenario has no heat_network section")
        return self.heat_network.network_params(self.district_design_kw())

    @property
    def n_steps(self) -> int:
        return self.duration // self.step

    @property
    def results_dir(self) -> Path:
        """`outputs.dir` when the scenario sets it, else `results/<name>` (two scenarios without
        `outputs` never share a folder)."""
        if "dir" in self.outputs.model_fields_set:
            return self.outputs.dir
        return Path("results") / self.name

    def controller_params(self) -> dict[str, Any]:
        """The parameters every building's controller plug-in gets (`controllers.plugin`): the DSM
        window for `rule_based` (restored within the longest `restore_within_h` of the groups),
        `controller.params` for a plug-in; empty for `none` and `admm`."""
        c = self.controller
        if c.kind == "rule_based":
            restore = max((g.restore_within_h for g in self.buildings), default=4.0)
            dsm = {"start_h": c.dsm_start_h, "end_h": c.dsm_end_h, "restore_within_h": restore}
            return {"dsm": dsm if c.dsm else None}
        return dict(c.params)

    @property
    def n_buildings(self) -> int:
        return sum(g.count for g in self.buildings)


def _check_heat_network(s: Scenario) -> None:
    """What the heat-network simulator would refuse when the run starts: its layout for these
    buildings, its plant, and the pump's grid bus."""
    from simulators.heat_network.params import NetworkParams
    from simulators.heat_network.plant import Plant

    config = s.heat_network
    assert config is not None
    try:
        params = NetworkParams.from_dict(s.heat_network_params(), where="heat_network")
        control = params.control
        params.layout.topology(control.t_supply_design_c - control.t_return_design_c)
        Plant([p.spec() for p in params.sources], params.store.spec() if params.store is not None else None)
    except ValueError as exc:
        message = str(exc).removeprefix("heat_network: ").removeprefix("layout.")
        message = message.replace("n_substations", "the number of district-heated buildings")
        raise ValueError(f"heat_network: {message}") from None
    if config.bus is not None:
        from simulators.grid.networks import load_feeder

        feeder = load_feeder(s.grid.network)
        vn_kv = feeder.net.bus["vn_kv"].to_numpy()
        buses = ", ".join(str(b) for b in feeder.candidate_buses)
        if not config.bus < len(vn_kv) or vn_kv[config.bus] >= 1.0:
            raise ValueError(
                f"heat_network.bus: bus {config.bus} is not a low-voltage bus of {s.grid.network}; its "
                f"house connection buses are {buses}"
            )


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, the field and the fix."""


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """Field names allowed at the parent of `loc` (for 'unknown key' messages)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        annotation = fields[part].annotation
        current = _model_in(annotation)
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `X`, `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def format_errors(path: Path, exc: ValidationError) -> str:
    """One line per problem: file, dotted field path, message, and the allowed keys for unknown ones."""
    lines = [f"{path}: invalid scenario ({exc.error_count()} problem{'s' if exc.error_count() > 1 else ''})"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(Scenario, loc)
            message = f"unknown key {loc[-1]!r}" + (
                f"; allowed here: {', '.join(allowed)}" if allowed else ""
            )
        elif err["type"] == "missing":
            message = "required field is missing"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file; relative CSV paths are resolved against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        raise ScenarioError(
            f"{path}: the file is empty; a scenario needs at least `name` and `buildings` "
            "(see scenarios/demo.yaml)"
        )
    if not isinstance(data, dict):
        got = {"list": "a list", "str": "plain text"}.get(type(data).__name__, type(data).__name__)
        raise ScenarioError(f"{path}: a scenario must be a mapping of keys (name, buildings, ...), got {got}")
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise ScenarioError(format_errors(path, exc)) from None
    return _resolve_paths(scenario, path.parent)


def _resolve_paths(scenario: Scenario, base: Path) -> Scenario:
    weather, prices = scenario.sources.weather, scenario.sources.prices
    if weather.path is not None and not weather.path.is_absolute():
        weather = weather.model_copy(update={"path": base / weather.path})
    if prices.path is not None and not prices.path.is_absolute():
        prices = prices.model_copy(update={"path": base / prices.path})
    update: dict[str, Any] = {"sources": Sources(weather=weather, prices=prices)}
    if scenario.plan is not None and scenario.plan.file is not None and not scenario.plan.file.is_absolute():
        update["plan"] = scenario.plan.model_copy(update={"file": base / scenario.plan.file})
    return scenario.model_copy(update=update)
