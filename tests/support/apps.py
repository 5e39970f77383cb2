"""Apps built from an environment, as production builds them (fault tests' own services)."""

from __future__ import annotations

from flask import Flask

from validateur import create_app


def app_for(env: dict[str, str]) -> Flask:
    """An app built from `env` like production's (CSRF off for the test client)."""
    from validateur.config import load

    config = load(env)
    config["WTF_CSRF_ENABLED"] = False
    return create_app(config)
