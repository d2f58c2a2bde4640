"""The analysts' web console: triage, evidence, linking graph, timeline and audited actions."""
