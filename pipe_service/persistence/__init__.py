"""Artifact persistence above the store: ids, markers, replay, retention, the turn's recorder,
the db_writer actor (commits each group to Redis write-behind or straight to the database) and
the cleanup actor. The database side (schema, codec, keys, tables) lives in
:mod:`pipe_service.storage`; the chat's persistence stage in :mod:`pipe_service.chat`."""
