"""The control plane over MQTT: brokers, the lockstep bridge (core, batches, recording, its
synchronous facade), the agents a run starts, hardware-in-the-loop devices and their emulator."""
