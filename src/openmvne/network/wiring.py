"""Which host-network provisioning interface this process talks to. Only the simulator
exists until a host network's real interface is connected; its behaviour (timeouts, lost
responses, rejections, acknowledgement delay) comes from settings. With a state path the
simulator keeps its memory in that file, so every process (server, CLI, demo seeder) talks
to the same simulated network; without one it lives in this process's memory."""

from __future__ import annotations

from datetime import timedelta

from openmvne.config import Settings
from openmvne.network.provisioning import HostProvisioning
from openmvne.network.shared_simulator import SharedSimulatedHostNetwork
from openmvne.network.simulator import SimulatedHostNetwork


def from_settings(settings: Settings) -> HostProvisioning:
    if settings.network_state_path:
        return SharedSimulatedHostNetwork(
            settings.network_state_path,
            seed=settings.network_seed,
            timeout_rate=settings.network_timeout_rate,
            lost_response_rate=settings.network_lost_response_rate,
            unavailable_rate=settings.network_unavailable_rate,
            reject_rate=settings.network_reject_rate,
            ack_delay=timedelta(seconds=settings.network_ack_delay_s),
        )
    return SimulatedHostNetwork(
        seed=settings.network_seed,
        timeout_rate=settings.network_timeout_rate,
        lost_response_rate=settings.network_lost_response_rate,
        unavailable_rate=settings.network_unavailable_rate,
        reject_rate=settings.network_reject_rate,
        ack_delay=timedelta(seconds=settings.network_ack_delay_s),
    )
