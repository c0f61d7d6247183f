"""Controllers: the asyncio agent runtime on MQTT, ADMM, detectors and baseline controllers. No mosaik here."""
