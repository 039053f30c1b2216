"""Template helpers of the team pages (team/templatetags/team.py)."""

from dmportal.team.templatetags.team import id_link


def test_an_id_link_links_only_a_real_id_and_escapes_the_text():
    real = "a" * 32
    assert id_link("user_detail", real, "<b>Ada</b>") == (
        f'<a href="/team/users/{real}/">&lt;b&gt;Ada&lt;/b&gt;</a>'
    )
    assert id_link("user_detail", "../evil", "<b>Ada</b>") == "&lt;b&gt;Ada&lt;/b&gt;"
    assert id_link("user_detail", None, "Ada") == "Ada"
