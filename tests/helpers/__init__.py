"""What the tests share besides fixtures (those stay in conftest.py), one module per topic.

- environment: CI rules (skip or fail), the configured PostgreSQL and Redis, schemas
- weak_kdf: cheap password, sealing and receipt parameters, for tests only
- instances: portal instances and the databases copied for them
- forms: reading a page's form (its CSRF token)
- console: signing in to the console as a demo user
- disclosures: demo staff, draft fields, publishing through the services
- reports: the organisation of the report tests, their forms and uploads
- report_client: a reporter's browser over HTTP or HTTPS, against a real server
- slow_clients: slow uploads, heads and silent connections; pages and a report meanwhile
- servers: ``portal run`` and ``portal serve`` as subprocesses on free ports
- browser: Chromium's path and flags, the apps served on local ports
- accessibility: axe-core's WCAG 2.1 A/AA checks of the page shown in Chromium
- crypto_tools: the age CLI, ``python -m crypto``, the shared vectors
- recovery_shares: reading the share sheets that ``portal keys`` prints
"""
