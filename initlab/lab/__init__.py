"""The lab: compare init schemes by training (data, models, train, sweep, store, report)."""
