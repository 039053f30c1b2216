"""The task the queue runs (django-tasks; the database backend's `db_worker` in production).

Its only argument is the job's id: what the job needs is on the job's record, and never a
key. Nothing escapes it: a run records its own failure on the job (jobs/runner.py), so the
queue's own record of the task holds no exception text either. After a job, expired jobs
are cleaned up (at most every ten minutes per worker).
"""

from django_tasks import task

from .runner import run_job


@task()
def job_run(job_id):
    run_job(job_id)
    from .services import jobs_cleanup_if_due  # services enqueue this task

    jobs_cleanup_if_due()
