"""Relaying streams and aborting upstream calls when the client goes away."""
