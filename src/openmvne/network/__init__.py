"""The host-network boundary (provisioning and usage feed). Arrives with [subscribers]."""
