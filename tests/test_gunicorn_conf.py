"""gunicorn.conf.py's access log never writes a key, whatever the request line carries."""

import io
import logging
import runpy
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from gunicorn.config import Config

from tests.conftest import SENTINEL_KEY

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def test_the_access_log_redacts_keys_in_the_request_line_and_referer():
    settings = runpy.run_path(str(CONF))
    config = Config()
    config.set("accesslog", "-")
    logger = settings["logger_class"](config)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]
    path = f"/devices/?name__in={SENTINEL_KEY}"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": "/devices/",
        "QUERY_STRING": f"name__in={SENTINEL_KEY}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"http://127.0.0.1:8000{path}",
        "HTTP_USER_AGENT": "test",
    }
    response = SimpleNamespace(status="400 Bad Request", sent=10, headers=[])
    request = SimpleNamespace(headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=5))
    line = stream.getvalue()
    assert "GET /devices/?name__in=[redacted] HTTP/1.1" in line  # the line is still written
    assert SENTINEL_KEY not in line
    assert "ak_" not in line.replace("[redacted]", "")


def test_the_address_dmportal_listens_on_is_logged_when_ready(monkeypatch):
    """Issue 15: with one socket per worker, gunicorn's own line said "Listening at:  (pid)"."""
    monkeypatch.setenv("DMPORTAL_BIND", "127.0.0.1:8123")
    settings = runpy.run_path(str(CONF))
    lines = []
    server = SimpleNamespace(
        cfg=SimpleNamespace(bind=[settings["bind"]], reuse_port=True),
        log=SimpleNamespace(info=lambda message, *args: lines.append(message % args)),
    )
    settings["when_ready"](server)
    assert lines == ["dmportal listening at: http://127.0.0.1:8123 (one socket per worker)"]
