"""Which host-network provisioning interface this process talks to. Only the simulator
exists until a host network's real interface is connected; its behaviour (timeouts, lost
responses, rejections, acknowledgement delay) comes from settings."""

from __future__ import annotations

from datetime import timedelta

from openmvne.config import Settings
from openmvne.network.provisioning import HostProvisioning
from openmvne.network.simulator import SimulatedHostNetwork


def from_settings(settings: Settings) -> HostProvisioning:
    return SimulatedHostNetwork(
        seed=settings.network_seed,
        timeout_rate=settings.network_timeout_rate,
        lost_response_rate=settings.network_lost_response_rate,
        unavailable_rate=settings.network_unavailable_rate,
        reject_rate=settings.network_reject_rate,
        ack_delay=timedelta(seconds=settings.network_ack_delay_s),
    )
