"""Linear voltage sensitivities of the scenario's feeder for the ADMM coordinator.

`VoltageLinearizer` holds its own copy of the grid model (same feeder, same connection buses as
the grid simulator: one connection per building in scenario order, then the standalone storage
units). At every control step it solves the power flow at the current operating point (the
buildings' measured net active and reactive power, the storage units' last power) and once more
per agent with that agent's power raised by `delta_kw`; the finite differences give S (buses ×
agents, pu per kW) in v ≈ v0 + S (p − p0) for the buses where buildings are connected. The
coordinator keeps every step of its horizon inside [grid.v_min_pu, grid.v_max_pu] with these rows
(`SharedLimits.voltage`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from controllers.admm import Coupling, SharedLimits, VoltageSensitivity
from cosim.scenario.model import BuildingGroup, Scenario
from simulators.grid.model import GridModel


def reactive_ratio(group: BuildingGroup) -> float:
    """dq/dp of a building's planned change of net power (kvar per kW).

    A building's consumption draws reactive power at its power factor (tan φ); its PV and its
    battery feed in or draw at unity. Without a battery, the plan moves the heat pump: tan φ. With
    one, the plan moves mostly the battery: 0. (Until 2026-12-03 the ratio q/p of the net power was
    used, which is wrong wherever PV or the battery offsets the consumption: in the voltage test run
    it put 0.4–0.85 kvar on battery moves that drew none, and the voltage fell up to 2.2e-4 pu below
    the linear prediction; with this ratio that error is at most 8e-5 pu, and the band is held to
    5e-6 pu.)
    """
    if group.battery is not None:
        return 0.0
    return float(np.tan(np.arccos(group.power_factor)))


class VoltageLinearizer:
    """Sensitivities of the building buses' voltages to each agent's net active power (the
    buildings', then the standalone storage units')."""

    def __init__(self, scenario: Scenario, delta_kw: float = 1.0) -> None:
        requested: list[int | None] = []
        tan_phi: list[float] = []
        for group in scenario.buildings:
            for k in range(group.count):
                requested.append(None if group.buses is None else group.buses[k])
                tan_phi.append(reactive_ratio(group))
        self.tan_phi = np.array(tan_phi)
        self.n_buildings = len(requested)
        requested += [unit.bus for unit in scenario.storage]
        self.model = GridModel(scenario.grid.network, requested)
        buses = self.model.connection_buses[: self.n_buildings]
        self.buses = np.unique(buses)
        ids = self.model.bus_ids
        self.rows = np.array([int(np.flatnonzero(ids == b)[0]) for b in self.buses])
        self.delta_kw = delta_kw
        self.v_min_pu, self.v_max_pu = scenario.grid.v_min_pu, scenario.grid.v_max_pu
        admm = scenario.controller.admm
        self.violation_price_per_pu = None if admm is None else admm.voltage_violation_price_per_pu
        self.n_storage = len(scenario.storage)

    def sensitivity(
        self,
        p_buildings_kw: np.ndarray,
        q_buildings_kvar: np.ndarray | None = None,
        p_storage_kw: np.ndarray | None = None,
    ) -> VoltageSensitivity:
        """S, v0 and p0 at the operating point; a ValueError if the power flow does not converge.

        Reactive power is part of the operating point; a building's perturbation changes its
        reactive power by delta·`reactive_ratio` (see there).
        """
        p0 = np.asarray(p_buildings_kw, dtype=float)
        q0 = (
            np.zeros(self.n_buildings)
            if q_buildings_kvar is None
            else np.asarray(q_buildings_kvar, dtype=float)
        )
        storage = np.zeros(self.n_storage) if p_storage_kw is None else np.asarray(p_storage_kw, dtype=float)
        p = np.concatenate([p0, storage])
        operating_point = p.copy()  # p is perturbed in place below
        q = np.concatenate([q0, np.zeros(self.n_storage)])
        tan_phi = np.concatenate([self.tan_phi, np.zeros(self.n_storage)])  # storage at unity
        base = self.model.solve(p, q)
        if not base.converged:
            raise ValueError(f"voltage sensitivities: no power flow at the operating point ({base.message})")
        v0 = base.v_pu[self.rows]
        s = np.empty((self.rows.size, p.size))
        for i in range(p.size):
            p[i] += self.delta_kw
            q[i] += self.delta_kw * tan_phi[i]
            r = self.model.solve(p, q)
            p[i] -= self.delta_kw
            q[i] -= self.delta_kw * tan_phi[i]
            if not r.converged:
                raise ValueError(f"voltage sensitivities: the perturbed power flow of agent {i} diverged")
            s[:, i] = (r.v_pu[self.rows] - v0) / self.delta_kw
        return VoltageSensitivity(
            s, v0, operating_point, self.v_min_pu, self.v_max_pu, self.violation_price_per_pu
        )


class SharedConstraints:
    """The coupling map of every control step: the transformer limit and, with a linearizer, the
    voltage band at the measured operating point (the last sensitivities are kept when that
    power flow fails; a failure at the first step is an error)."""

    def __init__(
        self,
        agents: tuple[str, ...],
        limit_kw: float,
        horizon: int,
        peak_price_per_kw: float,
        linearizer: VoltageLinearizer | None,
    ) -> None:
        self.agents, self.limit_kw, self.horizon = agents, limit_kw, horizon
        self.peak_price_per_kw = peak_price_per_kw
        self.linearizer = linearizer
        self.voltage: VoltageSensitivity | None = None

    def coupling(
        self,
        measured: Sequence[Mapping[str, float | None]],
        battery_kw: Sequence[float | None],
    ) -> Coupling:
        """This step's coupling from each agent's measurements (`p_kw`, `q_kvar`) and last
        battery setpoint, in the order of `agents`."""
        if self.linearizer is not None:
            p0 = [(m.get("p_kw") or 0.0) + (b or 0.0) for m, b in zip(measured, battery_kw, strict=True)]
            q0 = [m.get("q_kvar") or 0.0 for m in measured]
            n = self.linearizer.n_buildings  # the agents: buildings first, then standalone storage
            try:
                self.voltage = self.linearizer.sensitivity(
                    np.array(p0[:n]), np.array(q0[:n]), np.array(p0[n:]) if len(p0) > n else None
                )
            except ValueError:
                if self.voltage is None:
                    raise
        limits = SharedLimits.transformer(
            self.limit_kw, self.horizon, peak_price_per_kw=self.peak_price_per_kw, voltage=self.voltage
        )
        return Coupling.from_limits(self.agents, limits)
