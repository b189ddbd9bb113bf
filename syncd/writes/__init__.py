"""Writes to the PMS: the unified write fields, validation per PMS, the service, the worker."""
