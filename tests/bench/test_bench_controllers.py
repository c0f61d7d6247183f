"""Controllers of one's own in `cosim bench`: a plug-in class from a user's module, a plug-in that
fails (reported in the table, the other runs go on), and the external MQTT controller example
(examples/external_controller.py, a separate process on a real Mosquitto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import run_bench

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

USER_MODULE = '''
from pydantic import Field

from controllers.measurements import BuildingMeasurement, BuildingSetpoints
from controllers.plugin import BuildingController, ControllerParams


class ShaverParams(ControllerParams):
    import_limit_kw: float = Field(default=0.5, ge=0)


class Shaver(BuildingController):
    """Discharges the battery above an import limit, charges it from any export."""

    Params = ShaverParams
    params: ShaverParams

    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        if not m.battery_capacity_kwh:
            return BuildingSetpoints()
        excess_kw = m.p_kw - self.params.import_limit_kw
        if excess_kw > 0:
            return BuildingSetpoints(battery_p_kw=-min(excess_kw, m.battery_p_discharge_max_kw or 0.0))
        return BuildingSetpoints(battery_p_kw=min(max(-m.p_kw, 0.0), m.battery_p_charge_max_kw or 0.0))


class Broken(BuildingController):
    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        raise RuntimeError("broken on purpose")
'''


def _kpis(run_dir: str) -> dict[str, Any]:
    return dict(json.loads((Path(run_dir) / "kpis.json").read_text()))


def test_a_plugin_from_a_users_module_and_a_failing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bench_user_ctrl.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    bench = run_bench(tmp_path / "out", "tiny", "--controllers",
                      "bench_user_ctrl:Shaver,bench_user_ctrl:Broken")
    t = bench.table
    assert "the baseline `none` is added" in bench.output
    assert list(dict.fromkeys(t["controller"])) == ["none", "Shaver", "Broken"]
    status = t.drop_duplicates("controller").set_index("controller")
    assert status.loc["none", "status"] == "ok" and status.loc["Shaver", "status"] == "ok"
    assert status.loc["Broken", "status"] == "failed"
    assert "broken on purpose" in status.loc["Broken", "error"]
    assert t.loc[t["controller"] == "Broken", "value"].isna().all()
    assert "failed: RuntimeError" in (bench.out / "report.html").read_text()
    assert "| Broken | failed: RuntimeError" in (bench.out / "kpis.md").read_text()

    shaver = t[t["controller"] == "Shaver"].set_index("kpi")
    k = _kpis(str(shaver["run_dir"].iloc[0]))
    assert shaver.loc["energy_cost_eur", "value"] == pytest.approx(k["cost"]["total"], rel=1e-12)
    assert shaver.loc["peak_import_kw", "value"] == pytest.approx(k["peak"]["peak_import_kw"], rel=1e-12)
    assert k["storage"]["battery_throughput_kwh"] > 1.0  # the user's controller drove the battery
    assert _kpis(str(status.loc["none", "run_dir"]))["storage"]["battery_throughput_kwh"] == 0.0


@pytest.mark.network
def test_the_external_mqtt_controller_example(tmp_path: Path, session_mosquitto_url: str) -> None:
    program = EXAMPLES / "external_controller.py"
    bench = run_bench(tmp_path / "out", "tiny", "--controllers", f"none,external:{program}",
                      "--broker", session_mosquitto_url)
    t = bench.table
    assert set(t["status"]) == {"ok"}, t.drop_duplicates("controller")[["controller", "error"]]
    external = t[t["controller"] == "external:external_controller"].set_index("kpi")
    k = _kpis(str(external["run_dir"].iloc[0]))
    assert k["run"]["clean"], k["run"]["not_clean_because"]  # every step answered by the program
    assert external.loc["mqtt_messages", "value"] == k["mqtt"]["messages"] > 0
    assert external.loc["energy_cost_eur", "value"] == pytest.approx(k["cost"]["total"], rel=1e-12)
    assert k["storage"]["battery_throughput_kwh"] > 1.0  # its battery self-consumption acted
    baseline = t[t["controller"] == "none"].set_index("kpi")
    assert external.loc["energy_cost_eur", "value"] < baseline.loc["energy_cost_eur", "value"]
