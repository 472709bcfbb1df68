# gunicorn settings for one app of the portal, e.g.
#   gunicorn -c deploy/gunicorn.conf.py "app:create_app('public')"
#   gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:8001 "app:create_app('console')"
# `portal serve` starts both apps with equivalent settings.
import os

# No more workers at run time (SIGTTIN) while rate limits are counted in memory.
from app.gunicorn_hooks import nworkers_changed  # noqa: F401
from app.gunicorn_hooks import on_starting as share_rate_limit_seed

bind = os.environ.get("PORTAL_PUBLIC_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PORTAL_WORKERS", "2"))
# gthread whose event loop reads each request's headers before a thread takes it: clients
# that send slowly (or not at all) hold no thread. Bodies are bounded by the app
# (PORTAL_BODY_READS..., app/security/body_reads.py).
worker_class = "app.gunicorn_worker.HeadersFirstWorker"
# Keep PORTAL_THREADS in the environment of the app too: BODY_READS is half of it by default.
threads = int(os.environ.get("PORTAL_THREADS", "16"))
timeout = 60
graceful_timeout = 30
keepalive = 5
# Requests larger than this never reach Python; the app has its own limit too.
limit_request_line = 8190
# Only nginx on this machine may set X-Forwarded-Proto.
forwarded_allow_ips = "127.0.0.1"
errorlog = "-"
# No control socket: it can change the number of workers past the check in on_starting.
control_socket_disable = True
# The public site's error log is dated by the day and names no request line, header or client
# address (app/logging_setup.py); the console's (app named `...console...`) stays complete.
logger_class = "app.logging_setup.ServerLog"
# No access log: the public site keeps no trace of its visitors (address, agent or time).
# For the console, enable it with --access-logfile - if your policy wants one.
accesslog = None


def on_starting(server):
    # One seed of the rate-limit keys for all workers, in their environment, never on disk.
    share_rate_limit_seed(server)
    # Rate limits kept in memory are counted by each worker apart: several workers need Redis.
    from app import create_app
    from app.security.ratelimit import storage_problem

    problem = storage_problem(create_app("console").config, server.cfg.workers)
    if problem:
        raise RuntimeError(problem)
