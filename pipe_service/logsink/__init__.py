"""The log sink: every log record of the process goes through one bounded inbox to one writer.

``handler.py`` is the ``logging.Handler`` every logger reaches (it adds the request's ids, keeps
the request's ring buffer, filters by global and per-user level and never blocks);
``actor.py`` is the sink actor that writes batches off the event loop; ``archive.py`` writes
encrypted per-request log archives.
"""
