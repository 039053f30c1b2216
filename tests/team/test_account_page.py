"""The team's account page, and the empty result of a filtered team list (issue 15)."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_limits_are_shown_once_in_words_with_the_api_name_on_hover(sim_client):
    """Issue 15 item 5: the limits were shown twice (a table and a list), by raw names."""
    html = sim_client.get("/team/").content.decode()
    start = html.index('id="h-limits"')
    limits = html[start : html.index("</section>", start)]
    assert limits.count('data-limit="iam_limit_user_count"') == 1
    assert '<dt title="iam_limit_user_count">Users</dt>' in limits
    assert '<dt title="iam_limit_api_key_count">API keys</dt>' in limits
    assert re.search(r'data-limit="device_count">unlimited', limits)
    assert "Maximum number of users." in limits
    assert "<table" not in limits
    assert ">iam_limit_user_count<" not in limits  # the raw name is not the label


def test_an_empty_filtered_team_list_says_matching_is_exact_and_offers_the_fixes(sim_client):
    html = sim_client.get("/team/groups/?name__eq=administrators").content.decode()
    assert "No policy groups match these filters." in html
    assert "match the whole value exactly, with the same upper and lower case" in html
    assert "check name “administrators”: the whole value, with its exact case" in html
    assert "header search" not in html  # it finds devices, not groups
    assert 'href="/team/groups/">Clear the filters' in html
    # the filters say so before anything is typed
    blank = sim_client.get("/team/groups/").content.decode()
    assert "Text filters match the whole value exactly" in blank


def test_a_count_of_one_is_singular(sim_client, sim):
    name = next(iter(sim.store.policy_groups.objs.values()))["name"]
    html = sim_client.get("/team/groups/", {"name__eq": name}).content.decode()
    assert re.search(r"<strong>1</strong> policy group matches the filters", html)
