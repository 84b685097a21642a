"""facility: the facility registry, residents and their census; records transfers and discharges."""
