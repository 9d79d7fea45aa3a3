"""The artifact store: database engine, schema and migrations, codec and keys, table
operations, bootstrap and the ``storage`` commands. Imports neither Redis write-behind nor
persistence: those build on it."""
