"""MongoDB's unified-format driver specification tests, run against mongolet."""
