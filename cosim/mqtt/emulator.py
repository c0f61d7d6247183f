"""A hardware-in-the-loop device played by a model: `cosim emulate-device`.

The emulator is what a real device (or its gateway) does on MQTT: it joins the run's device plane,
and at every tick receives its inputs (the setpoints of its controller) and answers with its
outputs (its measurements). It uses the device plane's lockstep protocol: inputs arrive as a `meas`
message on `{prefix}/{run}/meas/{device}` with the tick, the answer goes out as a `setpoint` message
on `{prefix}/{run}/setpoint/{device}` (for a device the bridge's "measurement" carries its inputs
and its "setpoint" its outputs: input → output, like every participant). Device ids are
`<building name>.device`; the device plane uses the prefix `DEVICE_PREFIX` and the bridge id
`DEVICE_BRIDGE`, apart from the controllers' plane. In a secured run each device is a principal of
the security folder (`cosim emulate-device ... --security DIR`, docs/security.md).

The model is the platform's own building model, with the scenario's specification, seed and
weather, so an emulated device reproduces the simulated building exactly (tested).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from controllers.messages import MeasMessage
from controllers.runtime import Agent, AgentRunner, Setpoints
from controllers.runtime.broker_url import BrokerUrl
from controllers.runtime.identity import ClientSecurity
from cosim.cli.errors import UnreachableError
from cosim.scenario.model import Scenario, load_scenario
from cosim.security.acl import DEVICE_BRIDGE, DEVICE_PREFIX  # the device plane's prefix and bridge
from simulators.building.model import BuildingFleet, BuildingSpec, Controls, WeatherInputs
from simulators.building.sim import SETPOINT_INPUTS
from simulators.clock import time_axis
from simulators.sources.model import make_weather, site_from

__all__ = ["DEVICE_BRIDGE", "DEVICE_PREFIX", "BuildingEmulator", "device_id", "run_device", "serve_device"]
WEATHER_FIELDS = ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s")


def device_id(building: str) -> str:
    """The MQTT id of an external building's device."""
    return f"{building}.device"


def _locate(scenario: Scenario, building: str) -> tuple[int, BuildingSpec]:
    """A building's index in the scenario and its specification."""
    index = 0
    for group in scenario.buildings:
        for name in group.names():
            if name == building:
                return index, BuildingSpec.from_dict(group.building_spec())
            index += 1
    names = [n for g in scenario.buildings for n in g.names()]
    raise ValueError(f"no building {building!r} in scenario {scenario.name!r}; buildings: {', '.join(names)}")


class BuildingEmulator(Agent):
    """One building of a scenario, played on the device plane."""

    kind: ClassVar[str] = "building-emulator"

    def __init__(self, agent_id: str, *, scenario: Scenario, building: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        index, spec = _locate(scenario, building)
        site = site_from(
            {**scenario.site.model_dump(exclude={"heating_degree_days_kd"}), "tz": scenario.timezone}
        )
        self.times = time_axis(scenario.start, scenario.timezone, scenario.step, scenario.n_steps)
        weather_spec = {**scenario.sources.weather.model_dump(mode="json"), "seed": scenario.seed}
        self.weather = make_weather(self.times, weather_spec, site)
        self.fleet = BuildingFleet(
            [spec], [index], site, scenario.step, scenario.seed, scenario.site.heating_degree_days_kd
        )
        self.fleet.set_time_axis(self.times)
        self.first_step = asyncio.Event()  # set when the run sends its first step

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        if measurement is None or not 0 <= tick < len(self.times):
            return None
        self.first_step.set()
        inputs = measurement.body.values
        controls = Controls(*(np.array([_nan(inputs.get(name))]) for name in SETPOINT_INPUTS))
        weather = WeatherInputs(*(np.array([getattr(self.weather, f)[tick]]) for f in WEATHER_FIELDS))
        time_s = measurement.body.time_s if measurement.body.time_s is not None else tick * self.fleet.step_s
        result = self.fleet.step(self.times[tick], time_s, tick, weather, controls)
        outputs: dict[str, float | None] = {name: _none(float(v[0])) for name, v in result.as_dict().items()}
        outputs["hp_p_max_kw"] = float(self.fleet.hp_p_max_kw[0])
        return outputs


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value


def preflight_broker(broker_url: str, where: str = "--broker", timeout_s: float = 2.0) -> None:
    """An `UnreachableError` naming the URL if nothing accepts connections at the broker's address
    (instead of an MQTT client retrying forever)."""
    from controllers.runtime.broker_url import parse_broker_url
    from cosim.mqtt.brokers import port_open

    url = parse_broker_url(broker_url)
    if not port_open(url.host, url.port, timeout_s):
        raise UnreachableError(
            f"{where} {broker_url}: nothing accepts connections at {url.host}:{url.port}; start the "
            "broker or give the right address (for a run, leave out --broker and controller.broker to "
            "let the platform start one; for a device, the broker `cosim run` printed)"
        )


async def serve_device(
    scenario_path: Path, building: str, broker_url: str, run_id: str, wait_s: float | None = None,
    security: ClientSecurity | None = None,
) -> None:
    """Play `building` of the scenario on the device plane of run `run_id` until the run ends;
    with `wait_s`, give up (an `UnreachableError`) if the run sends no step within that time.
    `security`: the device's login and keys in a secured run (`SecurityDir.client("<building>.device")`):
    it logs in over TLS, tags its outputs with its HMAC key and checks the device bridge's messages."""
    scenario = load_scenario(scenario_path)
    agent = BuildingEmulator(device_id(building), scenario=scenario, building=building)
    url: BrokerUrl | str = broker_url if security is None else security.broker_url(broker_url)
    middleware = [] if security is None else [security.middleware()]
    runner = AgentRunner(agent, url, run_id, prefix=DEVICE_PREFIX, bridge=DEVICE_BRIDGE,
                         middleware=middleware)
    serving = asyncio.create_task(runner.run())
    if wait_s is not None:
        started = asyncio.create_task(agent.first_step.wait())
        await asyncio.wait({serving, started}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            runner.stop()
            await asyncio.wait({serving}, timeout=10.0)
            raise UnreachableError(
                f"no run {run_id!r} sent a step to {device_id(building)} on {broker_url} within "
                f"{wait_s:.0f} s; "
                "check --run-id and --broker against what `cosim run` printed, and that the run is waiting "
                "for its devices"
            )
    await serving


def run_device(
    scenario_path: Path, building: str, broker_url: str, run_id: str, wait_s: float | None = None,
    security: ClientSecurity | None = None,
) -> None:
    """Blocking form of `serve_device` (the CLI command)."""
    asyncio.run(serve_device(scenario_path, building, broker_url, run_id, wait_s, security))
