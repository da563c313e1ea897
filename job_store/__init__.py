"""Durable job records (SQLAlchemy: PostgreSQL or SQLite) and hot job state (Redis).

The API records and reads jobs here; the workers write results and events here.
The database is the source of truth; Redis only speeds up polling.
"""
