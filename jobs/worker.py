"""`validateur worker`: an RQ worker with the app preloaded before fork.

The app (config, engine, reference to Redis) is built once in the parent so each forked
work-horse starts its job without paying for the factory; `jobs.context` drops the inherited
connection pool in the horse. SIGTERM is RQ's warm shutdown: the current job finishes, then
the worker exits. Plain `rq worker --url "$REDIS_URL" --with-scheduler validation` works too
(the job then builds the app itself on first use).
"""

from __future__ import annotations

import logging

from flask import Flask
from redis import Redis
from rq import Queue, Worker

from jobs import context
from validateur.queue import mask_url

log = logging.getLogger(__name__)


def run_worker(app: Flask, *, burst: bool = False) -> bool:
    context.preload(app)
    url = app.config["REDIS_URL"]
    connection = Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5)
    queue = Queue(app.config["VALIDATEUR_QUEUE"], connection=connection)
    log.info("worker listening on %s at %s", queue.name, mask_url(url))
    worker = Worker([queue], connection=connection)
    return bool(worker.work(burst=burst, with_scheduler=True))
