"""Temporal activities: the workflow's I/O (read model, e-mail), built with their dependencies."""
