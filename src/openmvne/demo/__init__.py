"""The demo world `make run` shows: fictional MVNOs, their channels and users."""
