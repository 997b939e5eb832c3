"""The host-network boundary: commands to a host network's HLR/HSS provisioning interface.

`provisioning` is the contract the platform codes against (submit now, acks later, retries
deduplicated by our transaction id); `simulator` is an in-memory host network that fails the
way real ones do, so the platform's retry logic can be tested without one.
"""

from openmvne.network.provisioning import (
    Ack,
    Command,
    HostProvisioning,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)

__all__ = [
    "Ack",
    "Command",
    "HostProvisioning",
    "ProvisioningRequest",
    "ProvisioningTimeout",
    "ProvisioningUnavailable",
]
