"""Business rules shared by every front end (the CLI today, the HTTP API later).

A front end parses its input and presents results; what may be done, and
how, is decided here.
"""
