"""The asyncio agent runtime on MQTT: agents, their runner, the resilient connection, the registry."""

from controllers.runtime.agent import Agent, AgentContext, AgentGroup, AgentRunner, AgentStats, Setpoints
from controllers.runtime.broker_url import BrokerUrl, BrokerUrlError, parse_broker_url
from controllers.runtime.connection import Backoff, ConnectionStats, MqttConnection, unique_client_id
from controllers.runtime.host import AgentHost
from controllers.runtime.registry import agent_class, agent_kinds, create_agent, register_agent_kind

__all__ = [
    "Agent", "AgentContext", "AgentGroup", "AgentHost", "AgentRunner", "AgentStats", "Backoff", "BrokerUrl",
    "BrokerUrlError", "ConnectionStats", "MqttConnection", "Setpoints", "agent_class", "agent_kinds",
    "create_agent", "parse_broker_url", "register_agent_kind", "unique_client_id",
]
