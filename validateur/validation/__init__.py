"""The billing domain: reading RAMQ billing files and checking them.

Pure Python on purpose: nothing here imports Flask, SQLAlchemy, RQ or Redis, so every rule
can be tested with a plain list of rows and reused outside the web service.
"""
