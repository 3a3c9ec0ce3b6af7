"""MongoDB's document languages as pure functions on documents (no I/O, no storage).

- ``values``      BSON comparison order and equality across types
- ``paths``       dotted paths into embedded documents and arrays
- ``matcher``     the query language: ``compile_filter(filter)(doc) -> bool``
- ``projection``  find projections
- ``sorting``     sort specifications
- ``updates``     update operators, replacements and upsert seeds
- ``expressions`` the aggregation expression language
- ``aggregation`` pipeline stages: ``run_pipeline(docs, pipeline, ctx)``

Every function here raises ``mongolet.errors.MongoError`` with MongoDB's code for bad input.
"""
