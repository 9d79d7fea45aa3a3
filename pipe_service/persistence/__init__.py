"""Artifact persistence above the store: ids, markers, replay, retention, the turn's recorder
and the cleanup actor. The database side (schema, codec, keys, the writer actor) lives in
:mod:`pipe_service.storage`."""
