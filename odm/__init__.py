"""odm: typed MongoDB documents on pydantic v2, with ODMantic's API."""
