"""Controllers: the asyncio agent runtime on MQTT, ADMM, detectors, baseline controllers. No mosaik."""
