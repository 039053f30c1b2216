"""What the team pages do, by what it acts on; views parse, call one of these, render.

- `sections`: the API's refusals, remembered per connection (which sections a key may not use).
- `names`: names of groups and users, one call each, for tables and choices.
- `key_check`: one call with a freshly created key, which is not kept.
- `users`, `groups`, `api_keys`, `applications`: the reads and writes of each resource,
  keyword-only functions named `<thing>_<action>` (`access_key_rotate(*, client, ...)`).
"""
