"""Canonical schema, ids, evidence and decisions, protocols, and the exception hierarchy."""
