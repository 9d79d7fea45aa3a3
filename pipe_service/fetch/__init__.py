"""Remote downloads behind the SSRF guard: guard, pinned transport, fetcher and its actor."""
