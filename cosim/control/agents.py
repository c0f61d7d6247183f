"""The MQTT agents of a run: which agents `cosim run` starts for a scenario, with which parameters.

One agent per building, named like the building: a `baseline` agent that runs the scenario's
controller plug-in (`controllers.baseline_agent`), or an ADMM building agent; one per standalone
storage unit, named like the unit (role "storage"); plus the ADMM coordinator. Parameters travel
as JSON (typed values, nested mappings), never as strings.
"""

from __future__ import annotations

from typing import Any

from controllers.admm.params import COORDINATOR_ID, AdmmAgentParams, CoordinatorParams
from cosim.mqtt.plane import AgentSpec
from cosim.scenario.model import AdmmConfig, Scenario

__all__ = ["admm_agent_specs", "agent_specs"]


def agent_specs(scenario: Scenario, own_broker: bool = False) -> list[AgentSpec]:
    """The MQTT agents of a scenario: one agent per building, named like the building (baseline or
    ADMM), plus the ADMM coordinator. `own_broker` (whether the platform provides the broker) no
    longer changes anything: the ADMM agents queue their round updates on every broker
    (`AdmmAgentParams.queue_updates`, issue 22)."""
    c = scenario.controller
    if c.kind == "admm" and c.admm is not None:
        return admm_agent_specs(scenario, c.admm)
    params: dict[str, Any] = {
        "controller": c.kind, "params": scenario.controller_params(), "step_s": scenario.control_step,
    }
    return [
        *(AgentSpec(name, "baseline", params) for g in scenario.buildings for name in g.names()),
        *(AgentSpec(unit.name, "baseline", {**params, "role": "storage"}) for unit in scenario.storage),
    ]


def admm_agent_specs(scenario: Scenario, cfg: AdmmConfig, queue_updates: bool = True) -> list[AgentSpec]:
    """One ADMM agent per building and per standalone storage unit, and the coordinator of the
    transformer limit."""
    names = [name for g in scenario.buildings for name in g.names()] + [u.name for u in scenario.storage]
    if scenario.grid.transformer_limit_kw is None:
        raise ValueError("controller kind 'admm' needs grid.transformer_limit_kw")
    coordinator = CoordinatorParams(
        agents=tuple(names),
        limit_kw=scenario.grid.transformer_limit_kw,
        horizon=cfg.horizon // scenario.control_step,
        peak_price_per_kw=cfg.peak_price_per_kw,
        rho=cfg.rho,
        eps_abs=cfg.eps_abs,
        eps_rel=cfg.eps_rel,
        max_iterations=cfg.max_iterations,
        round_timeout_s=cfg.round_timeout_s,
        # decide (converged or the recorded fallback) before the bridge stops waiting for the step
        step_deadline_s=cfg.step_deadline_s or 0.8 * scenario.controller.step_timeout_s,
        refresh=cfg.voltage,  # the bridge sends refreshed voltage rows
    ).model_dump(mode="json")
    plan = scenario.plan
    tracking = AdmmAgentParams() if plan is None else AdmmAgentParams(
        plan_weight_per_kw2=plan.weight_per_kw2, plan_series=plan.series
    )
    agent = tracking.model_copy(update={"queue_updates": queue_updates}).model_dump(mode="json")
    compromised = _compromised(scenario)
    return [
        *(
            AgentSpec(name, "admm-compromised", {**agent, **compromised[name]})
            if name in compromised
            else AgentSpec(name, "admm", agent)
            for name in names
        ),
        AgentSpec(COORDINATOR_ID, "admm-coordinator", coordinator),
    ]


LIE_OF = {"admm_bias": "bias", "admm_scale": "scale", "admm_random": "random", "admm_stealthy": "stealthy"}


def _compromised(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The ADMM agents an `admm_*` attack compromises, with their compromise (the parameters of
    `controllers.admm.mqtt.CompromisedAdmmAgent`: ticks are control steps)."""
    step = scenario.control_step
    out: dict[str, dict[str, Any]] = {}
    for attack in scenario.attacks:
        if attack.kind in LIE_OF:
            until = None if attack.duration is None else -(-(attack.start + attack.duration) // step)
            out[attack.target] = {
                "lie": LIE_OF[attack.kind],
                "magnitude": attack.magnitude,
                "seed": attack.seed,
                "step0_kw": float(attack.params.get("step0_kw", 0.0)),
                "from_tick": -(-attack.start // step),
                "until_tick": until,
            }
    return out
