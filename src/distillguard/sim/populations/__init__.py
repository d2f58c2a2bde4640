"""Legitimate populations, one module per kind: individuals and VPN users, students, agentic developers,
enterprise batch jobs, benchmark evaluators, tutoring products, research evals, translation pipelines,
agent-framework products and phone apps; registered by kind in
:data:`distillguard.sim.populations.registry.POPULATIONS`."""
