"""The export benchmark: a device list of 10,000 and of 100,000 simulator devices exported
through dmportal (its export page, the job, one db_worker) next to the limit, the same calls
made directly.

The limit is the cursor walk itself, `limit=1000` ascending, one call after another with a
kept-alive client that decodes each page (a walk cannot go on without reading the cursor):
what the number of pages times the API latency comes to, measured. dmportal's side is the
job's own run (from the worker claiming it to the file being complete, from the job's
record), and separately the time from the click to the job starting (the worker's polling).
The worker's CPU per 1,000 rows and its peak resident memory (VmHWM, a fresh worker for each
export, so the peak is that export's) come from /proc.
"""

import json
import re
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from .processes import cpu_seconds, log

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
JOB = re.compile(r"^/jobs/(\d+)/$")


def peak_rss_kib(pid):
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def limit_walk(api, base_url):
    """Seconds and pages of the cursor walk made directly (the limit)."""
    params = {"limit": 1000, "order": "ASC"}
    pages = rows = 0
    started = time.perf_counter()
    while True:
        # The bytes decoded as JSON, as dmportal's client does (requests' .json() would first
        # guess the text's character set, which costs more than the decoding itself).
        body = json.loads(api.get(f"{base_url}/v3/devices/", params=params, timeout=60).content)
        pages += 1
        rows += len(body["data"])
        if not body["has_more"]:
            break
        params["after"] = body["data"][-1]["id"]
    return time.perf_counter() - started, pages, rows


def start_export(session, portal):
    url = f"{portal.base_url}/exports/devices/"
    page = session.get(url, timeout=60)
    total = int(re.search(r'data-total="(\d+)"', page.text).group(1))
    clicked = time.time()
    response = session.post(
        url,
        data={"format": "csv", "csrfmiddlewaretoken": CSRF.search(page.text).group(1)},
        headers={"Referer": url},
        allow_redirects=False,
        timeout=60,
    )
    if response.status_code != 302:
        raise RuntimeError(f"the export did not start ({response.status_code})")
    return int(JOB.match(response.headers["Location"]).group(1)), total, clicked


def job_record(portal, job_id):
    path = portal.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=20) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM jobs_job WHERE id = ?", (job_id,)).fetchone())


def wait_for(portal, job_id, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = job_record(portal, job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise RuntimeError(f"export job {job_id} did not end in {timeout} s")


def moment(text):
    """A time of the job's SQLite row (UTC, as Django stores it)."""
    value = datetime.fromisoformat(text.replace(" ", "T"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def measure(portal, sim, *, rounds):
    """One device-list export of the whole account per round, each between two limit walks,
    each run by a fresh worker; the medians, and every round's figures."""
    api = sim.api_session()
    api.get(sim.base_url + "/v3/accounts/me", timeout=10)  # open the connection
    session = portal.sign_in()
    results = []
    for number in range(1, rounds + 1):
        before = limit_walk(api, sim.base_url)
        worker = portal.start_worker()
        time.sleep(2.0)  # Django loaded: its start-up is not the export's CPU or memory
        cpu_before = cpu_seconds(worker.pid)
        job_id, total, clicked = start_export(session, portal)
        job = wait_for(portal, job_id)
        cpu = cpu_seconds(worker.pid) - cpu_before
        peak = peak_rss_kib(worker.pid)
        after = limit_walk(api, sim.base_url)
        if job["state"] != "done":
            raise RuntimeError(f"export job {job_id} ended {job['state']}: {job['error']}")
        download = session.get(f"{portal.base_url}/jobs/{job_id}/download/", timeout=120)
        lines = download.content.count(b"\r\n") - 1  # no device field holds a line break
        run_seconds = (moment(job["finished_at"]) - moment(job["started_at"])).total_seconds()
        queue_seconds = moment(job["started_at"]).timestamp() - clicked
        limit_seconds = (before[0] + after[0]) / 2
        result = {
            "round": number,
            "rows": job["done"],
            "total_on_the_export_page": total,
            "rows_in_the_file": lines,
            "api_pages": before[1],
            "limit_seconds": round(limit_seconds, 3),
            "export_run_seconds": round(run_seconds, 3),
            "click_to_start_seconds": round(queue_seconds, 3),
            "ratio": round(run_seconds / limit_seconds, 3),
            "ratio_from_the_click": round((run_seconds + queue_seconds) / limit_seconds, 3),
            "worker_cpu_ms_per_1000_rows": round(1000 * cpu / max(1, job["done"]) * 1000, 1),
            "worker_peak_rss_mib": round(peak / 1024, 1) if peak else None,
            "file_bytes": len(download.content),
        }
        log(
            f"export of {result['rows']:,} rows: {run_seconds:.2f} s against a limit of "
            f"{limit_seconds:.2f} s (ratio {result['ratio']}), peak RSS "
            f"{result['worker_peak_rss_mib']} MiB"
        )
        results.append(result)
        portal.stop_workers()
    return summarise(results)


def summarise(results):
    def median(key):
        values = [r[key] for r in results if r[key] is not None]
        return round(statistics.median(values), 3) if values else None

    keys = (
        "limit_seconds",
        "export_run_seconds",
        "click_to_start_seconds",
        "ratio",
        "ratio_from_the_click",
        "worker_cpu_ms_per_1000_rows",
        "worker_peak_rss_mib",
    )
    return {
        "rows": results[0]["rows"],
        "api_pages": results[0]["api_pages"],
        "rows_in_the_file": results[0]["rows_in_the_file"],
        "total_on_the_export_page": results[0]["total_on_the_export_page"],
        "file_bytes": results[0]["file_bytes"],
        **{key: median(key) for key in keys},
        "rounds": results,
    }


def run_exports(workdir, *, latency_ms, sizes, rounds, simulator_class, portal_class):
    """Each fleet size on a simulator of its own at `latency_ms`, with a portal on it."""
    report = {"api_latency_ms": latency_ms, "sizes": {}}
    for devices in sizes:
        log(f"export: {devices:,} devices at {latency_ms:g} ms, {rounds} round(s)…")
        sim = simulator_class(
            workdir, name=f"export-{devices}", devices=devices, latency_ms=latency_ms
        )
        portal = None
        try:
            portal = portal_class(Path(workdir) / f"export-{devices}", sim)
            portal.workdir.mkdir(exist_ok=True)
            portal.prepare()
            portal.start()
            report["sizes"][str(devices)] = measure(portal, sim, rounds=rounds)
        finally:
            if portal is not None:
                portal.stop()
            sim.stop()
    return report
