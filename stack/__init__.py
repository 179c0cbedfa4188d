"""Running Dialroom as local processes: installing the parts, starting them, stopping them."""
