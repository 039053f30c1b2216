"""IAM: the account, users, invitations, policy groups, API keys, applications and access keys.

Membership lives on the members (``user.groups``, ``api_key.groups``, ``application.groups``);
each policy group's ``user_count``/``apikey_count``/``application_count`` is recomputed from the
membership indexes whenever it changes, so the two views always agree.
"""

from __future__ import annotations

import re

from . import errors, ids
from .ids import iso_s, make_id
from .keys import new_secret, public_part
from .routes import (
    Api,
    Request,
    Response,
    cached_response,
    json_response,
    list_response,
    no_content,
    route,
)
from .seed import LIMITS, POLICIES
from .store import Collection
from .validate import MISSING, Body, id_list

USERNAME_RE = re.compile(r"^[\w\-,._@+=]{4,30}$")
USER_STATUSES = ("ENROLLING", "INVITED", "ACTIVE", "RESET", "INACTIVE")


def _get(coll: Collection, req: Request, param: str, what: str) -> dict:
    obj = coll.get(req.id_param(param, what))
    if obj is None:
        raise errors.not_found(what)
    return obj


def _bump(obj: dict, now: int, **changes) -> dict:
    """A new version of an IAM object: changes applied, etag and updated_at moved on."""
    etag = str(int(obj.get("etag", "0")) + 1) if str(obj.get("etag", "0")).isdigit() else "1"
    return {**obj, **changes, "updated_at": iso_s(now), "etag": etag}


def _refresh_counts(api: Api, group_ids) -> None:
    store = api.store
    for gid in set(group_ids):
        group = store.policy_groups.get(gid)
        if group is None:
            continue
        counts = {
            "user_count": len(store.users.members("groups", gid)),
            "apikey_count": len(store.api_keys.members("groups", gid)),
            "application_count": len(store.applications.members("groups", gid)),
        }
        if any(group.get(k) != v for k, v in counts.items()):
            store.policy_groups.put({**group, **counts})


def _check_groups_exist(api: Api, group_ids: list[str], body: Body, name: str = "groups") -> None:
    unknown = [g for g in group_ids if api.store.policy_groups.get(g) is None]
    if unknown:
        body.fail(name, f"Group {unknown[0]} does not exist.")


def _groups_of(api: Api, req: Request, member: dict) -> Response:
    query = api.list_query(req)
    mine = set(member.get("groups") or ())
    page = api.store.policy_groups.page(query, test=lambda g: g["id"] in mine)
    return list_response(query, page)


def _change_groups(api: Api, coll: Collection, obj: dict, group_ids: list, *, add: bool) -> dict:
    """Add/remove one member to/from groups (caller holds the lock). 404/409 as the spec says."""
    store = api.store
    for gid in group_ids:
        if store.policy_groups.get(gid) is None:
            raise errors.not_found(f"Group {gid}")
    current = list(obj.get("groups") or ())
    if add:
        already = [g for g in group_ids if g in current]
        if already:
            raise errors.ApiError(409, "duplicate", f"Already a member of group {already[0]}.")
        new = current + [g for g in group_ids if g not in current]
    else:
        new = [g for g in current if g not in group_ids]
    updated = _bump(obj, api.now_ms(), groups=new)
    coll.put(updated)
    _refresh_counts(api, [*current, *new])
    return updated


# --- account --------------------------------------------------------------------------------------
@route("GET", "/v3/accounts/me")
def account_me(api: Api, req: Request) -> Response:
    account = dict(api.store.account)
    include = {p.strip() for p in req.query.get("include", "").split(",")}
    if "limits" in include:
        account["limits"] = dict(LIMITS)
    if "policies" in include:
        account["policies"] = [dict(p) for p in POLICIES]
    if "sub_accounts" in include and req.principal and req.principal.is_admin:
        account["sub_accounts"] = []  # "Not available for developer users"
    return json_response(200, account)


# --- users ----------------------------------------------------------------------------------------
def _user_fields(api: Api, body: Body, *, creating: bool, user_id: str | None = None) -> dict:
    out = {
        "email": body.email(required=creating),
        "full_name": body.string("full_name", max_length=100, nullable=True),
        "username": body.string("username", nullable=True, pattern=USERNAME_RE),
        "phone_number": body.string("phone_number", max_length=100, nullable=True),
        "address": body.string("address", max_length=100, nullable=True),
        "is_gtc_accepted": body.boolean("is_gtc_accepted", nullable=not creating),
        "is_marketing_accepted": body.boolean("is_marketing_accepted", nullable=not creating),
        "groups": body.id_list("groups", nullable=not creating),
    }
    if creating:
        out["password"] = body.string("password", nullable=True, max_length=512)
    else:
        out["is_totp_enabled"] = body.boolean("is_totp_enabled", nullable=True)
        out["status"] = body.enum("status", USER_STATUSES, nullable=True)
    if isinstance(out["groups"], list):
        _check_groups_exist(api, out["groups"], body)
    body.check()
    fields = {k: v for k, v in out.items() if v is not MISSING}
    if not creating:
        # null clears a text field; for the rest, null means "leave unchanged"
        clearable = ("full_name", "username", "phone_number", "address")
        fields = {k: v for k, v in fields.items() if v is not None or k in clearable}
    store = api.store
    if fields.get("email") and any(
        uid != user_id for uid in store.users.members("email", fields["email"])
    ):
        raise errors.duplicate(
            "A user with that email address already exists.",
            [errors.field("email", "Already in use.")],
        )
    if fields.get("username"):
        for other in store.users.objs.values():
            if other.get("username") == fields["username"] and other["id"] != user_id:
                raise errors.duplicate(
                    "A user with that username already exists.",
                    [errors.field("username", "Already in use.")],
                )
    return fields


def _new_user(api: Api, email: str, status: str, groups: list[str], **extra) -> dict:
    store = api.store
    now = api.now_ms()
    user = {
        "object": "user",
        "id": make_id(now, ids.KIND_USER, store.next_seq(ids.KIND_USER)),
        "account_id": store.account["id"],
        "email": email,
        "full_name": extra.get("full_name"),
        "username": extra.get("username"),
        "phone_number": extra.get("phone_number"),
        "address": extra.get("address"),
        "status": status,
        "email_verified": False,
        "is_gtc_accepted": bool(extra.get("is_gtc_accepted")),
        "is_marketing_accepted": bool(extra.get("is_marketing_accepted")),
        "is_totp_enabled": False,
        "groups": groups,
        "login_profiles": [
            {"id": "native", "name": "Native login", "type": "NATIVE", "foreign_id": ""}
        ],
        "custom_fields": {},
        "created_at": iso_s(now),
        "creation_time": now,
        "updated_at": iso_s(now),
        "password_changed_time": now if extra.get("password") else 0,
        "last_login_time": 0,
        "login_history": [],
        "active_sessions": [],
        "etag": "1",
        "sim_revision": 1,
    }
    store.users.put(user)
    _refresh_counts(api, groups)
    return user


@route("GET", "/v3/users")
def user_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.users.page(query))


@route("POST", "/v3/users")
def user_create(api: Api, req: Request) -> Response:
    action = req.query.get("action", "create")
    if action not in ("create", "invite"):
        raise errors.validation([errors.field("action", "action must be create or invite.")])
    body = Body(req.json())
    with api.store.lock:
        fields = _user_fields(api, body, creating=True)
        if action == "invite":
            status = "INVITED"
        else:
            status = "ACTIVE" if fields.get("password") else "ENROLLING"
        groups = fields.pop("groups", None) or []
        user = _new_user(api, fields.pop("email"), status, groups, **fields)
    return cached_response(201, api.store.users.json(user["id"]))


@route("GET", "/v3/users/{user_id}")
def user_get(api: Api, req: Request) -> Response:
    user = _get(api.store.users, req, "user_id", "User")
    return cached_response(200, api.store.users.json(user["id"]))


@route("PUT", "/v3/users/{user_id}")
def user_update(api: Api, req: Request) -> Response:
    user = _get(api.store.users, req, "user_id", "User")
    body = Body(req.json())
    store = api.store
    with store.lock:
        fields = _user_fields(api, body, creating=False, user_id=user["id"])
        current = store.users.get(user["id"])
        if current is None:
            raise errors.not_found("User")
        updated = _bump(current, api.now_ms(), **fields)
        store.users.put(updated)
        _refresh_counts(api, [*current.get("groups", ()), *updated.get("groups", ())])
    return cached_response(200, store.users.json(user["id"]))


@route("DELETE", "/v3/users/{user_id}")
def user_delete(api: Api, req: Request) -> Response:
    user = _get(api.store.users, req, "user_id", "User")
    if user["status"] == "ACTIVE":
        # The spec: "400 Bad request, for example, trying to delete active user".
        raise errors.validation(
            [errors.field("status", "Deactivate the user before deleting it.")],
            "An ACTIVE user cannot be deleted.",
        )
    store = api.store
    with store.lock:
        removed = store.users.remove(user["id"])
        if removed is None:
            raise errors.not_found("User")
        for inv_id in [
            i for i, inv in store.invitations.objs.items() if inv["user_id"] == user["id"]
        ]:
            store.invitations.remove(inv_id)
        # The user's API keys go with the user.
        for key_id in list(store.api_keys.members("owner", user["id"])):
            key = store.api_keys.remove(key_id)
            _refresh_counts(api, key.get("groups") or ())
        _refresh_counts(api, removed.get("groups") or ())
    return no_content()


@route("GET", "/v3/users/{user_id}/groups")
def user_groups(api: Api, req: Request) -> Response:
    return _groups_of(api, req, _get(api.store.users, req, "user_id", "User"))


def _user_membership(api: Api, req: Request, *, add: bool) -> Response:
    user = _get(api.store.users, req, "user_id", "User")
    body = Body({"groups": req.json(expect=list)})
    group_ids = body.id_list("groups")
    body.check()
    with api.store.lock:
        current = api.store.users.get(user["id"]) or user
        _change_groups(api, api.store.users, current, group_ids, add=add)
    return cached_response(200, api.store.users.json(user["id"]))


@route("POST", "/v3/users/{user_id}/groups/add")
def user_groups_add(api: Api, req: Request) -> Response:
    return _user_membership(api, req, add=True)


@route("POST", "/v3/users/{user_id}/groups/remove")
def user_groups_remove(api: Api, req: Request) -> Response:
    return _user_membership(api, req, add=False)


# --- invitations ----------------------------------------------------------------------------------
@route("GET", "/v3/user-invitations")
def invitation_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.invitations.page(query))


@route("POST", "/v3/user-invitations")
def invitation_create(api: Api, req: Request) -> Response:
    body = Body(req.json())
    email = body.email(required=True)
    groups = body.id_list("groups")
    valid_days = body.integer("valid_for_days", minimum=1, maximum=100)
    if isinstance(groups, list):
        _check_groups_exist(api, groups, body)
    body.check()
    groups = [] if groups is MISSING else groups
    valid_days = 30 if valid_days is MISSING else valid_days
    store = api.store
    with store.lock:
        existing = store.users.members("email", email)
        if existing:
            user = store.users.get(existing[0])
        else:
            # As in the real service, inviting a new address creates the user, status INVITED.
            user = _new_user(api, email, "INVITED", groups)
        now = api.now_ms()
        invitation = {
            "object": "user-invitation",
            "id": make_id(now, ids.KIND_INVITATION, store.next_seq(ids.KIND_INVITATION)),
            "account_id": store.account["id"],
            "email": email,
            "user_id": user["id"],
            "groups": groups,
            "login_profiles": user.get("login_profiles") or [],
            "created_at": iso_s(now),
            "updated_at": iso_s(now),
            "expiration": iso_s(now + valid_days * ids.DAY_MS),
            "etag": "1",
            "sim_revision": 1,
        }
        store.invitations.put(invitation)
    return cached_response(201, store.invitations.json(invitation["id"]))


@route("GET", "/v3/user-invitations/{invitation_id}")
def invitation_get(api: Api, req: Request) -> Response:
    inv = _get(api.store.invitations, req, "invitation_id", "Invitation")
    return cached_response(200, api.store.invitations.json(inv["id"]))


@route("DELETE", "/v3/user-invitations/{invitation_id}")
def invitation_delete(api: Api, req: Request) -> Response:
    inv = _get(api.store.invitations, req, "invitation_id", "Invitation")
    with api.store.lock:
        if api.store.invitations.remove(inv["id"]) is None:
            raise errors.not_found("Invitation")
    return no_content()


# --- policy groups --------------------------------------------------------------------------------
def _policy_group(api: Api, req: Request) -> dict:
    return _get(api.store.policy_groups, req, "group_id", "Group")


def _group_name_taken(api: Api, name: str, except_id: str | None = None) -> bool:
    return any(gid != except_id for gid in api.store.policy_groups.members("name", name))


SUBJECTS = {
    "users": ("users", "User"),
    "apikeys": ("api_keys", "API key"),
    "applications": ("applications", "Application"),
}


def _subjects(api: Api, data, body: Body, only: str | None = None) -> dict[str, list[str]]:
    """Parse a SubjectList; unknown members are a 400 (the spec: "the user ... does not exist")."""
    out: dict[str, list[str]] = {}
    names = [only] if only else list(SUBJECTS)
    for name in names:
        if name not in data:
            continue
        values = id_list(data[name], name, body)
        if values is MISSING:
            continue
        coll = getattr(api.store, SUBJECTS[name][0])
        unknown = [v for v in values if coll.get(v) is None]
        if unknown:
            body.fail(name, f"{SUBJECTS[name][1]} {unknown[0]} does not exist.")
        out[name] = values
    if only and only not in data:
        body.fail(only, f"{only} is required.")
    return out


def _apply_subjects(api: Api, group_id: str, subjects: dict[str, list[str]], *, add: bool) -> None:
    """Add/remove members (caller holds the lock); 409 if an added member is already in."""
    store = api.store
    if add:
        for name, values in subjects.items():
            coll = getattr(store, SUBJECTS[name][0])
            for oid in values:
                if group_id in (coll.get(oid).get("groups") or ()):
                    raise errors.ApiError(
                        409, "duplicate", f"{SUBJECTS[name][1]} {oid} is a member already."
                    )
    now = api.now_ms()
    for name, values in subjects.items():
        coll = getattr(store, SUBJECTS[name][0])
        for oid in values:
            obj = coll.get(oid)
            groups = list(obj.get("groups") or ())
            if add and group_id not in groups:
                coll.put(_bump(obj, now, groups=[*groups, group_id]))
            elif not add and group_id in groups:
                coll.put(_bump(obj, now, groups=[g for g in groups if g != group_id]))
    _refresh_counts(api, [group_id])


@route("GET", "/v3/policy-groups")
def policy_group_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.policy_groups.page(query))


@route("POST", "/v3/policy-groups")
def policy_group_create(api: Api, req: Request) -> Response:
    data = req.json()
    body = Body(data)
    name = body.string("name", required=True, max_length=100)
    members = data.get("members") or {}
    if not isinstance(members, dict):
        body.fail("members", "members must be an object with users, apikeys, applications.")
        members = {}
    subjects = _subjects(api, members, body)
    body.check()
    store = api.store
    with store.lock:
        if _group_name_taken(api, name):
            raise errors.duplicate(
                "A group with that name already exists.", [errors.field("name", "Already in use.")]
            )
        now = api.now_ms()
        group = {
            "object": "group",
            "id": make_id(now, ids.KIND_POLICY_GROUP, store.next_seq(ids.KIND_POLICY_GROUP)),
            "account_id": store.account["id"],
            "name": name,
            "user_count": 0,
            "apikey_count": 0,
            "application_count": 0,
            "created_at": iso_s(now),
            "updated_at": iso_s(now),
            "etag": "1",
            "sim_revision": 1,
        }
        store.policy_groups.put(group)
        _apply_subjects(api, group["id"], subjects, add=True)
    return cached_response(201, store.policy_groups.json(group["id"]))


@route("GET", "/v3/policy-groups/{group_id}")
def policy_group_get(api: Api, req: Request) -> Response:
    group = _policy_group(api, req)
    return cached_response(200, api.store.policy_groups.json(group["id"]))


@route("PUT", "/v3/policy-groups/{group_id}")
def policy_group_update(api: Api, req: Request) -> Response:
    group = _policy_group(api, req)
    body = Body(req.json())
    name = body.string("name", required=True, max_length=100)
    body.check()
    store = api.store
    with store.lock:
        if _group_name_taken(api, name, except_id=group["id"]):
            raise errors.duplicate(
                "A group with that name already exists.", [errors.field("name", "Already in use.")]
            )
        current = store.policy_groups.get(group["id"])
        if current is None:
            raise errors.not_found("Group")
        store.policy_groups.put(_bump(current, api.now_ms(), name=name))
    return cached_response(200, store.policy_groups.json(group["id"]))


@route("DELETE", "/v3/policy-groups/{group_id}")
def policy_group_delete(api: Api, req: Request) -> Response:
    group = _policy_group(api, req)
    store = api.store
    if group["id"] == store.admin_group_id:
        raise errors.access_denied("The Administrators group cannot be removed.")
    with store.lock:
        members = {
            name: list(getattr(store, SUBJECTS[name][0]).members("groups", group["id"]))
            for name in SUBJECTS
        }
        _apply_subjects(api, group["id"], members, add=False)
        store.policy_groups.remove(group["id"])
    return no_content()


def _group_members(api: Api, req: Request, name: str) -> Response:
    group = _policy_group(api, req)
    query = api.list_query(req)
    coll = getattr(api.store, SUBJECTS[name][0])
    return list_response(query, coll.page(query, member_of=("groups", group["id"])))


def _group_change(api: Api, req: Request, name: str, *, add: bool) -> Response:
    group = _policy_group(api, req)
    body = Body(req.json())
    subjects = _subjects(api, body.data, body, only=name)
    body.check()
    with api.store.lock:
        if api.store.policy_groups.get(group["id"]) is None:
            raise errors.not_found("Group")
        _apply_subjects(api, group["id"], subjects, add=add)
    return cached_response(200, api.store.policy_groups.json(group["id"]))


def _member_routes(segment: str, name: str) -> None:
    base = f"/v3/policy-groups/{{group_id}}/{segment}"
    route("GET", base, access="admin")(lambda api, req: _group_members(api, req, name))
    route("POST", f"{base}/add", access="admin")(
        lambda api, req: _group_change(api, req, name, add=True)
    )
    route("POST", f"{base}/remove", access="admin")(
        lambda api, req: _group_change(api, req, name, add=False)
    )


# Group member lists and changes: the spec marks only the users variants as restricted to
# administrators; the api-keys/applications variants are treated the same, since a non-admin
# key able to add itself to Administrators would defeat every other check.
_member_routes("users", "users")
_member_routes("api-keys", "apikeys")
_member_routes("applications", "applications")


# --- API keys -------------------------------------------------------------------------------------
def _api_key(api: Api, req: Request) -> dict:
    key = _get(api.store.api_keys, req, "apikey_id", "API key")
    principal = req.principal
    if not principal.is_admin and principal.key_id != key["id"]:
        # "With a developer API key, you can only manage that key."
        raise errors.access_denied("Only administrators can manage other API keys.")
    return key


def _key_fields(api: Api, body: Body, *, creating: bool) -> dict:
    fields = {
        "name": body.string("name", required=creating, max_length=100),
        "owner": body.string("owner"),
        "groups": body.id_list("groups"),
        "status": body.enum("status", ("ACTIVE", "INACTIVE")),
    }
    if isinstance(fields["owner"], str) and api.store.users.get(fields["owner"]) is None:
        body.fail("owner", f"User {fields['owner'][:64]} does not exist.")
    if isinstance(fields["groups"], list):
        _check_groups_exist(api, fields["groups"], body)
    body.check()
    return {k: v for k, v in fields.items() if v is not MISSING}


@route("GET", "/v3/api-keys")
def api_key_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    principal = req.principal
    test = None if principal.is_admin else (lambda k: k["id"] == principal.key_id)
    return list_response(query, api.store.api_keys.page(query, test=test))


@route("POST", "/v3/api-keys", access="admin")
def api_key_create(api: Api, req: Request) -> Response:
    fields = _key_fields(api, Body(req.json()), creating=True)
    store = api.store
    with store.lock:
        now = api.now_ms()
        key_id = make_id(now, ids.KIND_API_KEY, store.next_seq(ids.KIND_API_KEY))
        account_id = store.account["id"]
        full = public_part(account_id, key_id) + new_secret()
        # "A new key's initial permissions are from the Developers user group."
        groups = fields.get("groups") or [store.developer_group_id]
        key = {
            "object": "api-key",
            "id": key_id,
            "account_id": account_id,
            "name": fields["name"],
            "key": public_part(account_id, key_id),
            "status": fields.get("status", "ACTIVE"),
            "groups": groups,
            "created_at": iso_s(now),
            "creation_time": now,
            "updated_at": iso_s(now),
            "last_login_time": 0,
            "etag": "1",
            "sim_revision": 1,
        }
        if fields.get("owner"):
            key["owner"] = fields["owner"]
        store.api_keys.put(key)
        store.secrets[full] = ("api-key", key_id)
        _refresh_counts(api, groups)
    return json_response(201, {**key, "key": full})


@route("GET", "/v3/api-keys/me")
def api_key_me(api: Api, req: Request) -> Response:
    principal = req.principal
    if principal.kind != "api-key":
        raise errors.not_found("API key")  # an access key is not an API key
    return cached_response(200, api.store.api_keys.json(principal.key_id))


@route("GET", "/v3/api-keys/me/groups")
def api_key_me_groups(api: Api, req: Request) -> Response:
    principal = req.principal
    if principal.kind == "api-key":
        member = api.store.api_keys.get(principal.key_id)
    else:
        key = api.store.access_keys.get(principal.key_id)
        member = api.store.applications.get(key["application_id"]) if key else None
    return _groups_of(api, req, member or {})


@route("GET", "/v3/api-keys/{apikey_id}")
def api_key_get(api: Api, req: Request) -> Response:
    key = _api_key(api, req)
    return cached_response(200, api.store.api_keys.json(key["id"]))


@route("PUT", "/v3/api-keys/{apikey_id}")
def api_key_update(api: Api, req: Request) -> Response:
    key = _api_key(api, req)
    fields = _key_fields(api, Body(req.json()), creating=False)
    if not req.principal.is_admin and "groups" in fields:
        raise errors.access_denied("Only administrators can change a key's groups.")
    store = api.store
    with store.lock:
        current = store.api_keys.get(key["id"])
        if current is None:
            raise errors.not_found("API key")
        store.api_keys.put(_bump(current, api.now_ms(), **fields))
        _refresh_counts(api, [*current.get("groups", ()), *fields.get("groups", ())])
    return cached_response(200, store.api_keys.json(key["id"]))


@route("DELETE", "/v3/api-keys/{apikey_id}")
def api_key_delete(api: Api, req: Request) -> Response:
    key = _api_key(api, req)
    store = api.store
    with store.lock:
        removed = store.api_keys.remove(key["id"])
        if removed is None:
            raise errors.not_found("API key")
        _refresh_counts(api, removed.get("groups") or ())
    return no_content()


@route("GET", "/v3/api-keys/{apikey_id}/groups")
def api_key_groups(api: Api, req: Request) -> Response:
    return _groups_of(api, req, _api_key(api, req))


def _key_membership(api: Api, req: Request, *, add: bool) -> Response:
    key = _api_key(api, req)
    body = Body({"groups": req.json(expect=list)})
    group_ids = body.id_list("groups")
    body.check()
    with api.store.lock:
        current = api.store.api_keys.get(key["id"]) or key
        _change_groups(api, api.store.api_keys, current, group_ids, add=add)
    return cached_response(200, api.store.api_keys.json(key["id"]))


@route("POST", "/v3/api-keys/{apikey_id}/groups/add")
def api_key_groups_add(api: Api, req: Request) -> Response:
    return _key_membership(api, req, add=True)


@route("POST", "/v3/api-keys/{apikey_id}/groups/remove")
def api_key_groups_remove(api: Api, req: Request) -> Response:
    return _key_membership(api, req, add=False)


# --- applications and access keys -----------------------------------------------------------------
def _application(api: Api, req: Request) -> dict:
    return _get(api.store.applications, req, "application_id", "Application")


def _app_fields(api: Api, body: Body, *, creating: bool) -> dict:
    fields = {
        "name": body.string("name", required=creating, max_length=100),
        "description": body.string("description", max_length=500),
        "status": body.enum("status", ("ACTIVE", "INACTIVE")),
        "groups": body.id_list("groups"),
    }
    if isinstance(fields["groups"], list):
        _check_groups_exist(api, fields["groups"], body)
    body.check()
    return {k: v for k, v in fields.items() if v is not MISSING}


@route("GET", "/v3/applications")
def application_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.applications.page(query))


@route("POST", "/v3/applications")
def application_create(api: Api, req: Request) -> Response:
    fields = _app_fields(api, Body(req.json()), creating=True)
    store = api.store
    with store.lock:
        now = api.now_ms()
        groups = fields.get("groups") or [store.developer_group_id]
        app = {
            "object": "application",
            "id": make_id(now, ids.KIND_APPLICATION, store.next_seq(ids.KIND_APPLICATION)),
            "account_id": store.account["id"],
            "name": fields["name"],
            "description": fields.get("description", ""),
            "status": fields.get("status", "ACTIVE"),
            "groups": groups,
            "created_at": iso_s(now),
            "updated_at": iso_s(now),
            "etag": "1",
            "sim_revision": 1,
        }
        store.applications.put(app)
        _refresh_counts(api, groups)
    return cached_response(201, store.applications.json(app["id"]))


@route("GET", "/v3/applications/{application_id}")
def application_get(api: Api, req: Request) -> Response:
    app = _application(api, req)
    return cached_response(200, api.store.applications.json(app["id"]))


@route("PUT", "/v3/applications/{application_id}")
def application_update(api: Api, req: Request) -> Response:
    app = _application(api, req)
    fields = _app_fields(api, Body(req.json()), creating=False)
    store = api.store
    with store.lock:
        current = store.applications.get(app["id"])
        if current is None:
            raise errors.not_found("Application")
        store.applications.put(_bump(current, api.now_ms(), **fields))
        _refresh_counts(api, [*current.get("groups", ()), *fields.get("groups", ())])
    # The spec declares ApiKeyInfoResp here, a slip: the real body is the application.
    return cached_response(200, store.applications.json(app["id"]))


@route("DELETE", "/v3/applications/{application_id}")
def application_delete(api: Api, req: Request) -> Response:
    app = _application(api, req)
    store = api.store
    with store.lock:
        removed = store.applications.remove(app["id"])
        if removed is None:
            raise errors.not_found("Application")
        for key_id in list(store.access_keys.members("application_id", app["id"])):
            store.access_keys.remove(key_id)
        _refresh_counts(api, removed.get("groups") or ())
    return no_content()


def _access_key(api: Api, req: Request, app: dict) -> dict:
    key = _get(api.store.access_keys, req, "access_key_id", "Access key")
    if key["application_id"] != app["id"]:
        raise errors.not_found("Access key")
    return key


def _access_key_fields(body: Body, *, creating: bool) -> dict:
    fields = {
        "name": body.string("name", required=creating, max_length=100),
        "description": body.string("description", max_length=500),
        "status": body.enum("status", ("ACTIVE", "INACTIVE")),  # EXPIRED cannot be set
        "expiration": body.string("expiration", nullable=True),
    }
    if isinstance(fields["expiration"], str):
        try:
            fields["expiration"] = iso_s(ids.to_ms(ids.parse_datetime(fields["expiration"])))
        except ValueError:
            body.fail("expiration", "expiration must be a UTC RFC3339 date-time.")
    body.check()
    return {k: v for k, v in fields.items() if v is not MISSING}


@route("GET", "/v3/applications/{application_id}/access-keys")
def access_key_list_of_app(api: Api, req: Request) -> Response:
    app = _application(api, req)
    query = api.list_query(req)
    page = api.store.access_keys.page(query, test=lambda k: k["application_id"] == app["id"])
    return list_response(query, page)


@route("POST", "/v3/applications/{application_id}/access-keys")
def access_key_create(api: Api, req: Request) -> Response:
    app = _application(api, req)
    fields = _access_key_fields(Body(req.json()), creating=True)
    store = api.store
    with store.lock:
        now = api.now_ms()
        key_id = make_id(now, ids.KIND_ACCESS_KEY, store.next_seq(ids.KIND_ACCESS_KEY))
        account_id = store.account["id"]
        full = public_part(account_id, key_id) + new_secret()
        key = {
            "object": "access-key",
            "id": key_id,
            "account_id": account_id,
            "application_id": app["id"],
            "name": fields["name"],
            "description": fields.get("description", ""),
            "key": public_part(account_id, key_id),
            "status": fields.get("status", "ACTIVE"),
            "created_at": iso_s(now),
            "updated_at": iso_s(now),
            "etag": "1",
            "sim_revision": 1,
        }
        if fields.get("expiration"):
            key["expiration"] = fields["expiration"]
        store.access_keys.put(key)
        store.secrets[full] = ("access-key", key_id)
    return json_response(201, {**key, "key": full})


@route("GET", "/v3/applications/{application_id}/access-keys/{access_key_id}")
def access_key_get_of_app(api: Api, req: Request) -> Response:
    key = _access_key(api, req, _application(api, req))
    return cached_response(200, api.store.access_keys.json(key["id"]))


@route("PUT", "/v3/applications/{application_id}/access-keys/{access_key_id}")
def access_key_update(api: Api, req: Request) -> Response:
    key = _access_key(api, req, _application(api, req))
    fields = _access_key_fields(Body(req.json()), creating=False)
    store = api.store
    with store.lock:
        current = store.access_keys.get(key["id"])
        if current is None:
            raise errors.not_found("Access key")
        updated = _bump(current, api.now_ms(), **fields)
        if updated.get("expiration") is None:
            updated.pop("expiration", None)
        store.access_keys.put(updated)
    return cached_response(200, store.access_keys.json(key["id"]))


@route("DELETE", "/v3/applications/{application_id}/access-keys/{access_key_id}")
def access_key_delete(api: Api, req: Request) -> Response:
    key = _access_key(api, req, _application(api, req))
    with api.store.lock:
        if api.store.access_keys.remove(key["id"]) is None:
            raise errors.not_found("Access key")
    return no_content()


@route("GET", "/v3/applications/{application_id}/groups")
def application_groups(api: Api, req: Request) -> Response:
    return _groups_of(api, req, _application(api, req))


def _app_membership(api: Api, req: Request, *, add: bool) -> Response:
    app = _application(api, req)
    body = Body({"groups": req.json(expect=list)})
    group_ids = body.id_list("groups")
    body.check()
    with api.store.lock:
        current = api.store.applications.get(app["id"]) or app
        _change_groups(api, api.store.applications, current, group_ids, add=add)
    return no_content()


@route("POST", "/v3/applications/{application_id}/groups/add")
def application_groups_add(api: Api, req: Request) -> Response:
    return _app_membership(api, req, add=True)


@route("POST", "/v3/applications/{application_id}/groups/remove")
def application_groups_remove(api: Api, req: Request) -> Response:
    return _app_membership(api, req, add=False)


@route("GET", "/v3/access-keys")
def access_key_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.access_keys.page(query))


@route("GET", "/v3/access-keys/{access_key_id}")
def access_key_get(api: Api, req: Request) -> Response:
    key = _get(api.store.access_keys, req, "access_key_id", "Access key")
    return cached_response(200, api.store.access_keys.json(key["id"]))
