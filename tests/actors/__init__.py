"""Tests for the actor runtime (inboxes, supervisor, signal watcher)."""
