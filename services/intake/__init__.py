"""intake: registers persons under a pseudonym and admits them into treatment; emits `admitted`."""
