"""The dashboard: server-rendered pages at ``/dashboard`` in ``syncd serve``.

For the people who onboard customers: add a customer's PMS credentials,
watch the data-access check, enable, watch the first sync, clone the
configuration for the next customer, and manage webhooks. Pages are
Jinja2 templates over the same services as the CLI and the HTTP API; a
small script refreshes live sections in place. Every asset ships in the
package: no build step and no other origin.
"""

from __future__ import annotations

from aiohttp import web


def install(app: web.Application) -> None:
    """Serve the dashboard from ``app`` (an application built by ``build_application``)."""
    # Imported here: the pages pull in templates and services the probes alone do not need.
    from syncd.dashboard import details, integrations, webhooks
    from syncd.dashboard.app import install_dashboard
    from syncd.dashboard.sign_in import install_sign_in

    install_sign_in(app)
    install_dashboard(app, [*integrations.ROUTES, *details.ROUTES, *webhooks.ROUTES])
