"""gunicorn settings for the web process (Procfile `web`, `validateur dev`).

gevent workers, not threads: with `gthread`, a connection holds one of the worker's threads
while its headers and body arrive, so 16 clients trickling a byte every 2 s (2 workers ×
8 threads) kept `/api/health` waiting until they closed. A gevent worker spends a greenlet,
not a thread, on each connection and serves the others meanwhile (psycopg 3 and redis-py
cooperate with gevent once it has patched the standard library, which the worker does at
start). `keepalive` also bounds how long a client may take to send its request line and
headers (gunicorn reads them under a `keepalive`-second timeout): past it, the connection
is closed. Slow bodies are nginx's to absorb in production (`proxy_request_buffering on`,
`client_body_timeout`: see the README); here each costs one greenlet of
`worker_connections`.

Binds 127.0.0.1 (nginx in front on the same host) unless GUNICORN_BIND or PORT say
otherwise. Every log line goes through `validateur.logsafe` (control characters escaped,
exceptions as class and frames only).
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '5000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
keepalive = 5
timeout = 120
graceful_timeout = 30
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
logger_class = "validateur.logsafe.GunicornLogger"
# The access log line never carries a query string value with PHI: URLs hold only run ids.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
