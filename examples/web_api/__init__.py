"""A FastAPI app on the bank's services (see app.py)."""
