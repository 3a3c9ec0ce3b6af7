"""The bank: money transfers in MongoDB transactions."""
