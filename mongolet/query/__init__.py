"""MongoDB's document languages as pure functions on documents (no I/O, no storage).

Layered, each module importing only those listed before it (checked by ``lint-imports``):

- ``collation``, ``regexes``, ``named_errors``  string collation, BSON regexes, error codes
- ``values``      BSON comparison order and equality across types; ``MISSING``
- ``paths``       dotted paths into embedded documents and arrays
- ``expressions`` the aggregation expression language (a package, one module per family)
- ``matcher``     the query language: ``compile_filter(filter)(doc) -> bool``
- ``positional``  which array element the positional ``$`` stands for
- ``projection``, ``sorting``, ``failure_details``  find projections, sort specifications,
  why a document fails a validator
- ``aggregation`` pipeline stages: ``run_pipeline(docs, pipeline, ctx)``
- ``updates``     update operators, replacements, update pipelines and upsert seeds

Every function here raises ``mongolet.errors.MongoError`` with MongoDB's code for bad input.
"""
