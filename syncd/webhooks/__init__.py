"""Webhook delivery from the change outbox, per the Standard Webhooks specification.

``signing`` signs messages and makes secrets, ``messages`` builds the bodies,
``retry`` decides when a failed delivery is tried again, ``dispatcher`` fans
events out and posts them, ``cli`` carries ``syncd webhooks`` and
``syncd events``.
"""
