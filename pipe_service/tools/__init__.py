"""Tool calling: the executor contract, the function-call loop, breakers and the tools actor."""
