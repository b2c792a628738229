"""Thin views: each blueprint checks access, calls a service, renders a template."""
