"""Streaming: SSE decoding, Responses event translation, coalescing, rendering."""
