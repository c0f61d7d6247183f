"""A controller of your own, in one file: peak shaving with a battery and PV-driven pre-heating.

Use it from a scenario (the path is relative to the scenario file):

    controller:
      kind: my_controller.py:PeakShaver
      params: {import_limit_kw: 2.5, preheat_k: 1.0}

or register it under a short name in a package of yours (`controllers.plugin.register_controller`,
or an entry point in the group `urban_cosim.controllers`). The same class runs in process
(`transport: inprocess`) and inside an MQTT agent (`transport: mqtt`), with the same decisions.
"""

from __future__ import annotations

from pydantic import Field

from controllers.measurements import BuildingMeasurement, BuildingSetpoints
from controllers.plugin import BuildingController, ControllerParams


class PeakShaverParams(ControllerParams):
    """`import_limit_kw`: the battery discharges to keep the building's import below it and charges
    from PV surplus; `preheat_k`: the thermostat is raised by this much over `comfort_c` while the
    building exports (heat stored in the building mass instead of exported); 0 turns it off."""

    import_limit_kw: float = Field(default=3.0, ge=0)
    comfort_c: float = Field(default=20.0, ge=10, le=26)
    preheat_k: float = Field(default=1.0, ge=0, le=4)


class PeakShaver(BuildingController):
    """Battery: discharge by what the building draws over `import_limit_kw`, charge by its PV
    surplus, idle otherwise (the battery model clips to its limits). Thermostat: `comfort_c`, or
    `comfort_c + preheat_k` while exporting."""

    Params = PeakShaverParams
    params: PeakShaverParams

    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        battery_kw: float | None = None
        if m.battery_capacity_kwh:
            if m.p_kw > self.params.import_limit_kw:
                battery_kw = -(m.p_kw - self.params.import_limit_kw)
            elif m.p_kw < 0:
                battery_kw = -m.p_kw
            else:
                battery_kw = 0.0
        exporting = m.p_kw < 0
        t_set_c = self.params.comfort_c + (self.params.preheat_k if exporting else 0.0)
        return BuildingSetpoints(battery_p_kw=battery_kw, t_set_c=t_set_c)
