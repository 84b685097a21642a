"""reporting: materialised indicator views built from all five event types, served over HTTP."""
