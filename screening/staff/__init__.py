"""Who works in the service, and what they did (SPEC §8, §9).

- accounts: staff users: argon2 passwords, login throttling, administration
- sso: single sign-on: the OpenID Connect client, roles from a claim
- audit: audit events, and reading them back with filters
"""
