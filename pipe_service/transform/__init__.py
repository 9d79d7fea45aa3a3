"""Request transform: an Open WebUI (or OpenAI chat) body becomes an OpenRouter Responses payload.

``payload`` is the entry point; ``messages``, ``params``, ``tools`` and ``schema`` each convert
one part of the body; ``options`` holds the request-scoped settings; ``errors`` the one error type.
"""
