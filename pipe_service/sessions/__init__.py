"""The sessions actor: one task per chat turn, cancelled when its client leaves."""
