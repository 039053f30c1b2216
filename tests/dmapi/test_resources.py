"""dmapi/resources.py: every endpoint function calls a method and path of the spec, and checks
its ids before they reach the path."""

import inspect
import json
import re
from pathlib import Path

import pytest

from dmportal.dmapi import errors as api
from dmportal.dmapi import resources

ENDPOINTS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "dm_api" / "endpoints.json").read_text()
)["endpoints"]
SPEC_ROUTES = {re.sub(r"\{[^}]+\}", "{}", route) for route in ENDPOINTS}
AN_ID = "0179b7c1e6a80000000000010010a3f5"


class RecordingClient:
    """Stands in for ApiClient: remembers the one call an endpoint function makes."""

    def __init__(self):
        self.calls = []

    def page(self, path, **kwargs):
        self.calls.append(("GET", path, kwargs))

    def get(self, path, params=None):
        self.calls.append(("GET", path, params))

    def send(self, method, path, body=None):
        self.calls.append((method, path, body))


def endpoint_functions():
    return [
        (name, function)
        for name, function in inspect.getmembers(resources, inspect.isfunction)
        if function.__module__ == resources.__name__ and not name.startswith("_")
        and name != "check_id"
    ]  # fmt: skip


def sample_arguments(function):
    """Positional ids and a sample for every other parameter."""
    samples = {
        "reference": "maintenance",
        "category": "maintenance",
        "include": "bootstraps_successful",
        "interval": "1d",
        "period": "7d",
        "changes": {"name": "n"},
        "kind": "users",
        "action": "add",
        "member_ids": [AN_ID],
        "group_ids": [AN_ID],
    }
    args, kwargs = [], {}
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        value = samples.get(name, AN_ID if name.endswith("_id") else "x")
        if parameter.kind is parameter.KEYWORD_ONLY:
            if parameter.default is parameter.empty or name == "period":
                kwargs[name] = value
        elif parameter.default is parameter.empty:
            args.append(value)
    return args, kwargs


@pytest.mark.parametrize(("name", "function"), endpoint_functions())
def test_each_endpoint_function_calls_one_route_of_the_spec(name, function):
    client = RecordingClient()
    args, kwargs = sample_arguments(function)
    function(client, *args, **kwargs)
    [(method, path, _)] = client.calls
    route = f"{method} {path.replace(AN_ID, '{}').replace('maintenance', '{}')}"
    assert route in SPEC_ROUTES, route


def functions_taking_ids():
    for name, function in endpoint_functions():
        args, _ = sample_arguments(function)
        if any(a == AN_ID or isinstance(a, list) for a in args):
            yield name, function


@pytest.mark.parametrize(("name", "function"), list(functions_taking_ids()))
def test_each_id_is_checked_before_anything_is_called(name, function):
    args, kwargs = sample_arguments(function)
    for position, value in enumerate(args):
        if value == AN_ID:
            bad = "../" + AN_ID
        elif isinstance(value, list):
            bad = [AN_ID + "\n"]
        else:
            continue
        client = RecordingClient()
        with pytest.raises(api.InvalidRequest):
            function(client, *args[:position], bad, *args[position + 1 :], **kwargs)
        assert client.calls == []


@pytest.mark.parametrize("value", [AN_ID.upper(), AN_ID + "\n", AN_ID[:-1], None, 7, "../x"])
def test_check_id_refuses_what_is_not_an_id(value):
    with pytest.raises(api.InvalidRequest, match="device id must be 32 lowercase"):
        resources.check_id(value, "device id")
    assert resources.check_id(AN_ID) == AN_ID


def test_bodies_carry_checked_ids_and_only_what_was_given():
    client = RecordingClient()
    resources.api_key_create(client, name="Robot", owner=AN_ID, groups=[AN_ID])
    resources.application_create(client, name="App")
    resources.invitation_create(client, email="a@example.com", valid_for_days=7)
    resources.policy_group_members_change(client, AN_ID, "api-keys", "remove", [AN_ID])
    assert [body for _, _, body in client.calls] == [
        {"name": "Robot", "owner": AN_ID, "groups": [AN_ID]},
        {"name": "App"},
        {"email": "a@example.com", "valid_for_days": 7},
        {"apikeys": [AN_ID]},
    ]
    with pytest.raises(api.InvalidRequest):
        resources.api_key_create(client, name="Robot", groups=["not-an-id"])


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (resources.policy_group_member_page, (AN_ID, "owners")),
        (resources.policy_group_members_change, (AN_ID, "users", "replace", [AN_ID])),
        (resources.application_groups_change, (AN_ID, "replace", [AN_ID])),
    ],
)
def test_unknown_kinds_and_actions_are_refused(call, args):
    client = RecordingClient()
    with pytest.raises(api.InvalidRequest):
        call(client, *args)
    assert client.calls == []


def test_the_metric_names_are_the_specs_in_the_client_and_the_simulator():
    """The 16 names are written twice (the simulator imports nothing of dmapi): both are the
    fields of the spec's `metric` schema, in one order."""
    from dmportal.simulator.metrics import METRICS as SIMULATED

    schema = json.loads(
        (Path(__file__).parents[1] / "fixtures" / "dm_api" / "schemas" / "metric.json").read_text()
    )
    fields = set(schema["$defs"]["metric"]["properties"]) - {"id", "timestamp"}
    assert set(resources.METRICS) == fields
    assert resources.METRICS == SIMULATED
