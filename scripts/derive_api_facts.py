#!/usr/bin/env python
"""Derive the facts the simulator and its tests need from the official Device Management spec.

The spec (Swagger 2.0, 2020-10-26, ~1 MB) lives in the shared research folder, which a fresh clone
does not have. This script reads it once and writes small, committed files:

* ``dmportal/simulator/api_facts.json``: for every operation the simulator serves, its
  operationId, success status, response definition, whether the spec marks it "restricted to
  administrators", and, for lists, the ``x-filter`` map joined with each field's declared
  type/format/enum (so malformed filter values can be rejected like the real service does).
* ``tests/fixtures/dm_api/schemas/<Definition>.json``: self-contained JSON Schemas (draft
  2020-12) of the response bodies, converted from the Swagger 2.0 definitions. Objects stay open
  (``additionalProperties`` is not closed) because the API may add fields.
* ``tests/fixtures/dm_api/endpoints.json``: "METHOD path" -> {status: schema name}.
* ``dmportal/dmapi/list_filters.json``: what dmportal itself needs of the same facts (no test
  fixture is read at run time): for each list endpoint, its ``x-filter`` fields (operators,
  type, enum), whether it takes the legacy ``filter=`` parameter, and which attribute maps
  (``custom_attributes__<key>``, ``component_attributes__<name>``) that parameter's
  documentation says it filters on.

Usage: .venv/bin/python scripts/derive_api_facts.py [SPEC_YAML]

Spec errata applied during conversion are listed in ERRATA below, each with its reason; the output
files record them too, so nobody mistakes a correction for the spec's own text.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared/dm-api-spec/pelion_dm_public_openapi.2020-10-26.yaml"
FACTS_OUT = ROOT / "dmportal/simulator/api_facts.json"
LIST_FILTERS_OUT = ROOT / "dmportal/dmapi/list_filters.json"
ATTRIBUTE_MAPS = ("custom_attributes", "component_attributes")
FIXTURES_OUT = ROOT / "tests/fixtures/dm_api"

# The operations the simulator implements (method, path exactly as the spec spells it).
SCOPE = [
    ("GET", "/v3/devices/"),
    ("POST", "/v3/devices/"),
    ("GET", "/v3/devices/{id}/"),
    ("PUT", "/v3/devices/{id}/"),
    ("DELETE", "/v3/devices/{id}/"),
    ("POST", "/v3/devices/{id}/suspend"),
    ("POST", "/v3/devices/{id}/resume"),
    ("GET", "/v3/device-block-categories/"),
    ("GET", "/v3/device-block-categories/{block_category_reference}"),
    ("GET", "/v3/device-events/"),
    ("GET", "/v3/device-events/{device_event_id}/"),
    ("GET", "/v3/device-groups/"),
    ("POST", "/v3/device-groups/"),
    ("GET", "/v3/device-groups/{device-group-id}/"),
    ("PUT", "/v3/device-groups/{device-group-id}/"),
    ("DELETE", "/v3/device-groups/{device-group-id}/"),
    ("GET", "/v3/device-groups/{device-group-id}/devices/"),
    ("POST", "/v3/device-groups/{device-group-id}/devices/add/"),
    ("POST", "/v3/device-groups/{device-group-id}/devices/remove/"),
    ("GET", "/v3/device-queries/"),
    ("POST", "/v3/device-queries/"),
    ("GET", "/v3/device-queries/{query_id}/"),
    ("PUT", "/v3/device-queries/{query_id}/"),
    ("DELETE", "/v3/device-queries/{query_id}/"),
    ("GET", "/v3/metrics"),
    ("GET", "/v3/accounts/me"),
    ("GET", "/v3/users"),
    ("POST", "/v3/users"),
    ("GET", "/v3/users/{user_id}"),
    ("PUT", "/v3/users/{user_id}"),
    ("DELETE", "/v3/users/{user_id}"),
    ("GET", "/v3/users/{user_id}/groups"),
    ("POST", "/v3/users/{user_id}/groups/add"),
    ("POST", "/v3/users/{user_id}/groups/remove"),
    ("GET", "/v3/user-invitations"),
    ("POST", "/v3/user-invitations"),
    ("GET", "/v3/user-invitations/{invitation_id}"),
    ("DELETE", "/v3/user-invitations/{invitation_id}"),
    ("GET", "/v3/policy-groups"),
    ("POST", "/v3/policy-groups"),
    ("GET", "/v3/policy-groups/{group_id}"),
    ("PUT", "/v3/policy-groups/{group_id}"),
    ("DELETE", "/v3/policy-groups/{group_id}"),
    ("GET", "/v3/policy-groups/{group_id}/users"),
    ("POST", "/v3/policy-groups/{group_id}/users/add"),
    ("POST", "/v3/policy-groups/{group_id}/users/remove"),
    ("GET", "/v3/policy-groups/{group_id}/api-keys"),
    ("POST", "/v3/policy-groups/{group_id}/api-keys/add"),
    ("POST", "/v3/policy-groups/{group_id}/api-keys/remove"),
    ("GET", "/v3/policy-groups/{group_id}/applications"),
    ("POST", "/v3/policy-groups/{group_id}/applications/add"),
    ("POST", "/v3/policy-groups/{group_id}/applications/remove"),
    ("GET", "/v3/api-keys"),
    ("POST", "/v3/api-keys"),
    ("GET", "/v3/api-keys/me"),
    ("GET", "/v3/api-keys/me/groups"),
    ("GET", "/v3/api-keys/{apikey_id}"),
    ("PUT", "/v3/api-keys/{apikey_id}"),
    ("DELETE", "/v3/api-keys/{apikey_id}"),
    ("GET", "/v3/api-keys/{apikey_id}/groups"),
    ("POST", "/v3/api-keys/{apikey_id}/groups/add"),
    ("POST", "/v3/api-keys/{apikey_id}/groups/remove"),
    ("GET", "/v3/applications"),
    ("POST", "/v3/applications"),
    ("GET", "/v3/applications/{application_id}"),
    ("PUT", "/v3/applications/{application_id}"),
    ("DELETE", "/v3/applications/{application_id}"),
    ("GET", "/v3/applications/{application_id}/access-keys"),
    ("POST", "/v3/applications/{application_id}/access-keys"),
    ("GET", "/v3/applications/{application_id}/access-keys/{access_key_id}"),
    ("PUT", "/v3/applications/{application_id}/access-keys/{access_key_id}"),
    ("DELETE", "/v3/applications/{application_id}/access-keys/{access_key_id}"),
    ("GET", "/v3/applications/{application_id}/groups"),
    ("POST", "/v3/applications/{application_id}/groups/add"),
    ("POST", "/v3/applications/{application_id}/groups/remove"),
    ("GET", "/v3/access-keys"),
    ("GET", "/v3/access-keys/{access_key_id}"),
]

LIST_ENVELOPES = {
    "DevicePage",
    "DeviceBlockCategoryPage",
    "DeviceQueryPage",
    "successful-response",
    "DeviceEventPage",
    "DeviceGroupPage",
    "UserInfoRespList",
    "UserInvitationRespList",
    "GroupSummaryList",
    "ApiKeyInfoRespList",
    "ApplicationList",
    "AccessKeyList",
}

ERRATA = [
    {
        "where": "DeviceData.last_operator_suspended_category, last_system_suspended_category",
        "spec": "pattern [a-f0-9_]{32}",
        "used": "pattern ^[a-z0-9_]{0,32}$",
        "why": "The spec's own example is 'maintenance' and the suspend/resume body declares the "
        "category reference as [a-z0-9_]{0,32}; 32 hex characters would reject real categories.",
    },
    {
        "where": "list envelopes (*Page, *List): after",
        "spec": "type string (IAM: pattern [a-f0-9]{32}), not nullable",
        "used": "string or null",
        "why": "The envelope echoes the request's cursor; on a first page there is none and the "
        "service sends null (dm-api-notes section 2.1).",
    },
    {
        "where": "custom_attributes of DeviceData, DeviceDataPutRequest, DeviceGroup",
        "spec": "additionalProperties: {pattern: ^[A-Za-z].*} (on the values)",
        "used": "propertyNames: {pattern: ^[A-Za-z]}",
        "why": "The field's description says the keys cannot begin with a number; the pattern was "
        "attached to the values by mistake (a value such as '6' is legal).",
    },
    {
        "where": "PUT /v3/applications/{application_id} 200",
        "spec": "ApiKeyInfoResp",
        "used": "Application",
        "why": "Copy-paste slip in the spec: the operation updates and returns an application "
        "(the request body is an Application; ApiKeyInfoResp requires a 'key' no application has).",
    },
]

# Swagger keywords with the same meaning in JSON Schema.
_COPY_KEYS = {
    "type",
    "enum",
    "required",
    "pattern",
    "maxLength",
    "minLength",
    "maximum",
    "minimum",
    "maxItems",
    "minItems",
    "maxProperties",
    "minProperties",
    "readOnly",
    "default",
    "title",
}
_KEEP_FORMATS = {"date", "date-time", "email", "uri"}


# One branch per Swagger 2.0 keyword that JSON Schema spells differently: a table to read down.
def convert(node: dict) -> dict:  # noqa: C901 - one branch per Swagger keyword
    """Convert one Swagger 2.0 schema node to JSON Schema (draft 2020-12)."""
    if "$ref" in node:
        out: dict = {"$ref": node["$ref"].replace("#/definitions/", "#/$defs/")}
        if node.get("x-nullable"):
            out = {"anyOf": [out, {"type": "null"}]}
        return out
    out = {k: copy.deepcopy(v) for k, v in node.items() if k in _COPY_KEYS}
    if node.get("format") in _KEEP_FORMATS:
        out["format"] = node["format"]
    if "x-deprecation" in node or node.get("deprecated"):
        out["deprecated"] = True
    if "properties" in node:
        out["properties"] = {k: convert(v) for k, v in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = convert(node["additionalProperties"])
    if "items" in node:
        out["items"] = convert(node["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            out[key] = [convert(x) for x in node[key]]
    if node.get("x-nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.rsplit("/", 1)[1])
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)


def closure(definitions: dict, name: str) -> list[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        found: set[str] = set()
        _refs(definitions[cur], found)
        todo.extend(found - seen)
    return sorted(seen)


def apply_errata(name: str, schema: dict) -> dict:
    props = schema.get("properties", {})
    custom = props.get("custom_attributes", {})
    if custom.get("additionalProperties", {}).pop("pattern", None):
        custom["propertyNames"] = {"pattern": "^[A-Za-z]"}
    if name == "DeviceData":
        for field in ("last_operator_suspended_category", "last_system_suspended_category"):
            props[field]["pattern"] = "^[a-z0-9_]{0,32}$"
    if name in LIST_ENVELOPES and "after" in props:
        after = props["after"]
        after["type"] = ["string", "null"]
        if "pattern" in after:
            # Keep the ID pattern for strings; null passes because pattern ignores non-strings.
            after["pattern"] = "^[a-f0-9]{32}$"
    return schema


def schema_document(definitions: dict, name: str) -> dict:
    defs = {n: apply_errata(n, convert(definitions[n])) for n in closure(definitions, name)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"dm_api/{name}.json",
        "title": name,
        "$ref": f"#/$defs/{name}",
        "$defs": defs,
    }


def response_name(op: dict, status: str) -> str | None:
    resp = op["responses"].get(status) or op["responses"].get(int(status))
    if not resp or "schema" not in resp:
        return None
    ref = resp["schema"].get("$ref")
    return ref.rsplit("/", 1)[1] if ref else None


def filter_map(op: dict, item_def: dict | None) -> dict:
    """Join x-filter with each field's declared type so values can be validated."""
    xfilter = op.get("x-filter") or {}
    params = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
    props = (item_def or {}).get("properties", {})
    out = {}
    for field, ops in sorted(xfilter.items()):
        prop = props.get(field, {})
        kind = prop.get("type", "string")
        fmt = prop.get("format")
        if kind == "string" and fmt in ("date", "date-time"):
            kind = fmt
        elif kind == "array":
            kind = "array"
        # The query parameters sometimes type a field more precisely than the definition.
        for o in ops:
            p = params.get(f"{field}__{o}", {})
            if p.get("format") in ("date", "date-time") and kind == "string":
                kind = p["format"]
        entry: dict = {"ops": sorted(ops), "type": kind}
        if "enum" in prop:
            entry["enum"] = prop["enum"]
        out[field] = entry
    return out


def build(spec_path: Path) -> tuple[dict, dict, dict[str, dict], dict]:
    raw = spec_path.read_bytes()
    # The C loader is ~10x faster on this 1 MB file; both are safe loaders.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(raw, Loader=loader)  # noqa: S506
    paths, definitions = spec["paths"], spec["definitions"]

    operations = {}
    endpoints = {}
    lists = {}
    needed = {"ErrorResponse"}
    for method, path in SCOPE:
        op = paths[path][method.lower()]
        responses = {str(k): v for k, v in op["responses"].items()}
        success = min(int(c) for c in responses if c.startswith("2"))
        resp_def = response_name(op, str(success))
        if method == "PUT" and path == "/v3/applications/{application_id}":
            resp_def = "Application"  # see ERRATA
        item_def = None
        if resp_def in LIST_ENVELOPES:
            item_ref = definitions[resp_def]["properties"]["data"]["items"]["$ref"]
            item_def = definitions[item_ref.rsplit("/", 1)[1]]
        key = f"{method} {path}"
        facts = {
            "operation_id": op["operationId"],
            "success": success,
            "response": resp_def,
            "admin_only": "restricted to administrators" in op.get("description", ""),
            "deprecated": bool(op.get("deprecated")),
            "errors": sorted(int(c) for c in responses if not c.startswith("2")),
        }
        if resp_def in LIST_ENVELOPES:
            facts["list"] = True
            facts["filters"] = filter_map(op, item_def)
            query = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
            facts["query"] = sorted(q for q in query if "__" not in q)
            lists[path] = list_filters(op, facts)
        operations[key] = facts
        statuses = {str(success): resp_def}
        for code in facts["errors"]:
            statuses[str(code)] = "ErrorResponse"
        endpoints[key] = statuses
        if resp_def:
            needed.add(resp_def)

    source = {
        "file": spec_path.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "swagger": spec.get("swagger"),
    }
    facts_doc = {"source": source, "errata": ERRATA, "operations": operations}
    endpoints_doc = {"source": source, "errata": ERRATA, "endpoints": endpoints}
    schemas = {name: schema_document(definitions, name) for name in sorted(needed)}
    # Item schemas of the lists, so tests can validate one object at a time.
    for name in sorted(LIST_ENVELOPES):
        item_ref = definitions[name]["properties"]["data"]["items"]["$ref"]
        item = item_ref.rsplit("/", 1)[1]
        schemas.setdefault(item, schema_document(definitions, item))
    lists_doc = {"source": source, "lists": lists}
    return facts_doc, endpoints_doc, schemas, lists_doc


def list_filters(op: dict, facts: dict) -> dict:
    """What dmportal's table machinery needs to know about one list endpoint's filters."""
    legacy = next((p for p in op.get("parameters", []) if p.get("name") == "filter"), None)
    text = (legacy or {}).get("description", "")
    return {
        "filters": facts["filters"],
        "legacy_filter": legacy is not None,
        "attribute_maps": [m for m in ATTRIBUTE_MAPS if f"{m}__" in text],
    }


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC)
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(f"spec not found: {args.spec}", file=sys.stderr)
        return 2
    facts_doc, endpoints_doc, schemas, lists_doc = build(args.spec)
    write_json(FACTS_OUT, facts_doc)
    write_json(LIST_FILTERS_OUT, lists_doc)
    write_json(FIXTURES_OUT / "endpoints.json", endpoints_doc)
    schema_dir = FIXTURES_OUT / "schemas"
    for old in schema_dir.glob("*.json") if schema_dir.is_dir() else []:
        if old.stem not in schemas:
            old.unlink()
    for name, doc in schemas.items():
        write_json(schema_dir / f"{name}.json", doc)
    count = len(facts_doc["operations"])
    print(f"wrote {FACTS_OUT.relative_to(ROOT)} ({count} operations)")
    print(f"wrote {LIST_FILTERS_OUT.relative_to(ROOT)} ({len(lists_doc['lists'])} lists)")
    print(f"wrote {len(schemas)} schemas and endpoints.json under {FIXTURES_OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
