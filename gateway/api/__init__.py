"""HTTP routes: thin adapters between ASGI and the gateway's call handling."""
