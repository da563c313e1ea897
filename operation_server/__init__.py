"""The REST API (FastAPI): validates, records and enqueues jobs; answers reads and model queries."""
