"""The bank's services wired with dependency-injector (see containers.py and services.py)."""
