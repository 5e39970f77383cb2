"""gunicorn settings for the web process (Procfile `web`, `validateur dev`).

Threads, not many processes: requests are short (uploads stream to disk, everything heavy
runs in RQ workers). `PORT` is honoured for Procfile platforms.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '5000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 120
graceful_timeout = 30
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# The access log line never carries a query string value with PHI: URLs hold only run ids.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
