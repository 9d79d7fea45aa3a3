"""Media in and out: inline payload validation, attachments, generated files."""
