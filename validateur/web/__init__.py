"""Blueprints: JSON API, French pages, admin, and the error handlers."""
