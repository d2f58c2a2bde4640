"""Legitimate populations: individuals, VPN users, students, agentic developers,
enterprise batch jobs and benchmark evaluators (one module per family), registered
by kind in :data:`distillguard.sim.populations.registry.POPULATIONS`."""
