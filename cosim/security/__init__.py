"""The secured control plane: a run's certificates, broker logins, ACL and message keys
(`cosim security init`), and what a secured run needs of them (docs/security.md)."""

from cosim.security.acl import Principal, acl_text
from cosim.security.store import SecurityDir, SecurityError, init_security

__all__ = ["Principal", "SecurityDir", "SecurityError", "acl_text", "init_security"]
