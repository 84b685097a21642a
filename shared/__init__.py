"""What the services truly share: the event contract, settings, observability, inbox and outbox."""
