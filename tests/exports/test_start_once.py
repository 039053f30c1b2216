"""Start, pressed twice: the export page's form carries a one-time key, and the same form
sent again (a double click, a resend, two requests at the same moment) starts one job.
(The same form sent at once to two app servers: tests/deploy; two threads on PostgreSQL:
tests/jobs/test_races.py.)"""

import re

import pytest

from dmportal.jobs import services
from dmportal.jobs.models import Job

pytestmark = pytest.mark.django_db

START_KEY = re.compile(r'name="start_key" value="([^"]+)"')


def form_key(client, path):
    html = client.get(path).content.decode()
    return START_KEY.search(html).group(1)


def test_the_same_form_sent_twice_starts_one_export(sim_client, sim):
    path = "/exports/devices/?state__eq=registered"
    key = form_key(sim_client, path)
    first = sim_client.post(path, {"format": "csv", "start_key": key})
    second = sim_client.post(path, {"format": "csv", "start_key": key}, follow=True)
    assert Job.objects.count() == 1
    job = Job.objects.get()
    assert first["Location"] == f"/jobs/{job.pk}/"
    assert second.redirect_chain == [(f"/jobs/{job.pk}/", 302)]
    assert "This export was started already" in second.content.decode()
    # The page shown again is a new form: it starts a new export.
    assert form_key(sim_client, path) != key
    sim_client.post(path, {"format": "csv", "start_key": form_key(sim_client, path)})
    assert Job.objects.count() == 2


def test_two_sends_at_the_same_moment_start_one_export(sim_client, sim, monkeypatch):
    # Both requests look for the key's job before either has made it (the window a double
    # click falls into): the database's unique key lets one through, the other gets its job.
    path = "/exports/devices/"
    key = form_key(sim_client, path)
    real_filter = Job.objects.filter
    misses = []

    def not_yet(*args, **kwargs):
        if "start_key" in kwargs and len(misses) < 2:
            misses.append(kwargs["start_key"])
            return Job.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(services.Job.objects, "filter", not_yet)
    first = sim_client.post(path, {"format": "jsonl", "start_key": key})
    second = sim_client.post(path, {"format": "jsonl", "start_key": key})
    assert misses == [key, key]
    assert first["Location"] == second["Location"]
    assert Job.objects.count() == 1


def test_the_key_is_one_users_own(sim_client, sim, other_user, client):
    from django.test import Client

    from tests.conftest import make_connection

    path = "/exports/devices/"
    key = form_key(sim_client, path)
    sim_client.post(path, {"format": "csv", "start_key": key})
    make_connection(other_user, label="Bob's", key=sim.keys.admin, host=sim.base_url)
    bob = Client()
    bob.force_login(other_user)
    response = bob.post(path, {"format": "csv", "start_key": key})
    assert response.status_code == 302
    jobs = Job.objects.order_by("pk")
    assert [j.user for j in jobs] == [sim_client_user(sim_client), other_user]
    assert response["Location"] == f"/jobs/{jobs[1].pk}/"  # Bob's own, never Alice's


def sim_client_user(client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def test_a_malformed_key_starts_nothing(sim_client, sim):
    response = sim_client.post("/exports/devices/", {"format": "csv", "start_key": "<x>"})
    assert response.status_code == 200
    assert "This form is out of date: press Start again." in response.content.decode()
    assert START_KEY.search(response.content.decode())  # a fresh form
    assert not Job.objects.exists()
