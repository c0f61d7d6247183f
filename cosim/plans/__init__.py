"""Plans handed down to the real-time controllers: made by the energy-hub planner or read from a file
(`source`), published per building as retained MQTT messages (`handdown`)."""
