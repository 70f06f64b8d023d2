#!/usr/bin/env python3
"""Scenario-driven fake of api.anthropic.com and status.claude.com for claudemon tests.

Python 3.11 standard library only. See README.md beside this file for the scenario format,
the behaviour names and the control API.

    python3 fake_upstream.py [--port 0] [--host 127.0.0.1] [--scenario FILE.json]
                             [--status-port 0] [--verbose]

Prints exactly one line on stdout when ready:

    listening api_port=NNNN status_port=MMMM

then serves until SIGTERM/SIGINT (exit 0). Logs go to stderr and never contain a key value:
keys are always named by their label.
"""

import argparse
import collections
import copy
import datetime as dt
import email.utils
import gzip
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import urllib.parse

# --------------------------------------------------------------------------------------
# Constants and real-world data (embedded so the fake does not depend on any other file)
# --------------------------------------------------------------------------------------

API_COMPONENT_ID = "k8w3r06qmzrp"
PAGE_ID = "tymt9n04zgry"
DEFAULT_ORG = "3f1c8a52-6d0e-4b7a-9c21-5e8f0a7d4b13"
VALID_VERSIONS = ("2023-06-01", "2023-01-01")
MAX_BODY = 64 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")

# components of status.claude.com, from anthropic_summary_operational_2026-09-04_trimmed.json
BASE_COMPONENTS = [
    ("rwppv331jlwc", "claude.ai", 1),
    ("0qbwn08sd68x", "Claude Console (platform.claude.com)", 2),
    (API_COMPONENT_ID, "Claude API (api.anthropic.com)", 3),
    ("yyzkbfz2thpt", "Claude Code", 4),
    ("bpp5gb3hpjcl", "Claude Cowork", 5),
    ("0scnb50nvy53", "Claude for Government", 6),
]
COMPONENT_NAMES = {cid: name for cid, name, _ in BASE_COMPONENTS}

INDICATOR_DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}

MODELS = [
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-24T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
]

RATE_LIMIT_MESSAGE = (
    "This request would exceed the rate limit for your organization ({org}) of {limit} "
    "requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
    "You can see the response headers for current usage. Please reduce the prompt length or "
    "the maximum tokens requested, or try again later. You may also contact sales at "
    "https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."
)

# name -> (http status, error.type, message, details)
API_ERRORS = {
    "auth_invalid": (401, "authentication_error", "invalid x-api-key", None),
    "permission": (403, "permission_error",
                   "Your API key does not have permission to use the specified resource.", None),
    "billing": (402, "billing_error",
                "Your organization has an unpaid invoice or a billing problem. Please go to "
                "Plans & Billing to resolve it.", None),
    "credit_low": (400, "invalid_request_error",
                   "Your credit balance is too low to access the Anthropic API. Please go to "
                   "Plans & Billing to upgrade or purchase credits.", None),
    "usage_limit": (400, "invalid_request_error",
                    "You have reached your specified API usage limits. You will regain access on "
                    "2026-12-01 at 00:00 UTC.", None),
    "spend_limit": (429, "rate_limit_error",
                    "Your organization has reached its monthly spend limit for its usage tier. "
                    "Please go to Plans & Billing to increase your limit.",
                    {"error_code": "enforced_spend_limit_reached"}),
    "account_disabled": (400, "invalid_request_error", "This organization has been disabled.", None),
    "rate_limited": (429, "rate_limit_error", RATE_LIMIT_MESSAGE, None),
    "model_not_found": (404, "not_found_error", "model: {model}", None),
    "bad_version": (400, "invalid_request_error", 'anthropic-version: "{version}" is not a valid version', None),
    "too_large": (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", None),
    "overloaded": (529, "overloaded_error", "Overloaded", None),
    "server_error": (500, "api_error", "Internal server error", None),
    "gateway_timeout": (504, "timeout_error", "Request timeout", None),
    "unknown_error_type": (418, "quantum_decoherence_error",
                           "The request collapsed into an unobserved state.", None),
}

EDGE_502 = ("<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
            "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>cloudflare</center>\n"
            "</body>\n</html>\n")
EDGE_503 = ("<html>\n<head><title>503 Service Temporarily Unavailable</title></head>\n<body>\n"
            "<center><h1>503 Service Temporarily Unavailable</h1></center>\n"
            "<hr><center>cloudflare</center>\n</body>\n</html>\n")
EDGE_520 = ("<!DOCTYPE html>\n<!--[if lt IE 7]> <html class=\"no-js ie6 oldie\" lang=\"en-US\"> <![endif]-->\n"
            "<html lang=\"en-US\">\n<head>\n<title>api.anthropic.com | 520: Web server is returning an "
            "unknown error</title>\n<meta charset=\"UTF-8\" />\n</head>\n<body>\n<div id=\"cf-wrapper\">\n"
            "<h1><span class=\"cf-error-type\">Error</span> <span class=\"cf-error-code\">520</span></h1>\n"
            "<h2 class=\"cf-subheadline\">Web server is returning an unknown error</h2>\n"
            "<p>There is an unknown connection issue between Cloudflare and the origin web server. "
            "As a result, the web page can not be displayed.</p>\n"
            "<div class=\"cf-footer\">Cloudflare Ray ID: <strong>{ray}</strong> &bull; "
            "Performance &amp; security by Cloudflare</div>\n</div>\n</body>\n</html>\n")
EDGE_403 = ("<!DOCTYPE html>\n<!--[if lt IE 7]> <html class=\"no-js ie6 oldie\" lang=\"en-US\"> <![endif]-->\n"
            "<html lang=\"en-US\">\n<head>\n<title>Attention Required! | Cloudflare</title>\n"
            "<meta charset=\"UTF-8\" />\n</head>\n<body>\n<div id=\"cf-wrapper\">\n"
            "<div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n"
            "<h1 data-translate=\"block_headline\">Sorry, you have been blocked</h1>\n"
            "<h2 class=\"cf-subheadline\"><span data-translate=\"unable_to_access\">You are unable to "
            "access</span> anthropic.com</h2>\n"
            "<p>This website is using a security service to protect itself from online attacks.</p>\n"
            "<div class=\"cf-footer\">Cloudflare Ray ID: <strong>{ray}</strong> &bull; "
            "Your IP: 203.0.113.7 &bull; Performance &amp; security by Cloudflare</div>\n"
            "</div>\n</div>\n</body>\n</html>\n")
STATUS_404 = ("<!DOCTYPE html>\n<html>\n<head><title>Claude Status - 404</title></head>\n<body>\n"
              "<div class=\"page-not-found\"><h1>Page not found</h1>\n<p>The page you are looking for "
              "doesn't exist or has moved.</p></div>\n</body>\n</html>\n")
STATUS_503 = ("<!DOCTYPE html>\n<html>\n<head><title>Service Unavailable</title></head>\n<body>\n"
              "<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your request."
              "</p>\n</body>\n</html>\n")

REASONS = {
    100: "Continue", 200: "OK", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    413: "Payload Too Large", 414: "URI Too Long", 418: "I'm a teapot", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    520: "", 529: "",
}

API_BEHAVIOURS = set(API_ERRORS) | {
    "ok", "edge_502", "edge_503", "edge_520", "edge_403", "edge_403_json", "garbage_200",
    "other_json_200", "truncated", "oversized", "endless", "slow", "hang", "reset", "close", "raw",
}
# behaviours that happen "in front of" the API: they ignore the key and version checks
EDGE_BEHAVIOURS = {"edge_502", "edge_503", "edge_520", "edge_403", "edge_403_json",
                   "hang", "reset", "close", "raw"}
STATUS_BEHAVIOURS = {
    "operational", "degraded", "major_outage", "partial_other_component", "maintenance",
    "maintenance_scheduled", "unknown_enum", "garbage", "truncated_json", "not_found",
    "server_error", "slow", "hang", "down", "reset", "close",
}
STATUS_JSON_BEHAVIOURS = {"operational", "degraded", "major_outage", "partial_other_component",
                          "maintenance", "maintenance_scheduled", "unknown_enum"}
ENDPOINTS = ("models", "count_tokens", "messages")
# scenario fields whose value is a behaviour: replaced, never merged, by PATCH
BEHAVIOUR_FIELDS = {"default", "unknown_key", "status_page", "behaviour"} | set(ENDPOINTS)


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

def rfc3339(t, millis=False):
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    if millis:
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value, epoch):
    """A scenario time: RFC 3339 string, or a number = seconds relative to epoch (-60 = a minute ago)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return rfc3339(epoch + value, millis=True)
    return str(value)


def request_id():
    return "req_011C" + "".join(random.choices(B58, k=20))


def cf_ray():
    return "%016x-FRA" % random.getrandbits(64)


def short_id(seed, n=12):
    h = hashlib.sha256(seed.encode()).digest()
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[b % 36] for b in h[:n])


_date_cache = [0, ""]


def http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return _date_cache[1]


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Request:
    __slots__ = ("method", "target", "path", "query", "version", "header_list", "headers",
                 "body", "keep_alive", "conn_id", "port_kind", "received_at")

    def get(self, name, default=None):
        return self.headers.get(name, default)


class Response:
    """An HTTP answer. mode: 'normal' (Content-Length), 'chunked', 'truncated' (declared length
    larger than what is sent, then close), 'nolength' (no Content-Length, close to end)."""
    __slots__ = ("status", "reason", "headers", "body", "mode", "close", "declared_length")

    def __init__(self, status, headers=None, body=b"", mode="normal", close=False, reason=None):
        self.status = status
        self.reason = reason
        self.headers = headers if headers is not None else []
        self.body = body
        self.mode = mode
        self.close = close
        self.declared_length = None


def read_request(rfile, sock, kind, conn_id):
    """Read one request. Returns None when the client closed the connection between requests."""
    first = rfile.peek(1)[:1]
    if first == b"\x16":
        raise BadRequest(400, "a TLS handshake on a plain HTTP port")
    line = rfile.readline(MAX_HEADER_BYTES + 1)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(MAX_HEADER_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_HEADER_BYTES:
        raise BadRequest(414, "request line too long")
    parts = line.decode("latin-1").rstrip("\r\n").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    req = Request()
    req.received_at = time.time()
    req.method, req.target, req.version = parts
    req.conn_id = conn_id
    req.port_kind = kind
    path, _, query = req.target.partition("?")
    req.path = path
    req.query = query
    header_list = []
    total = 0
    while True:
        h = rfile.readline(MAX_HEADER_BYTES + 1)
        if not h:
            raise ConnectionResetError("client went away inside the request head")
        total += len(h)
        if total > MAX_HEADER_BYTES:
            raise BadRequest(431, "request headers too large")
        if h in (b"\r\n", b"\n"):
            break
        name, sep, value = h.decode("latin-1").partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise BadRequest(400, "malformed header line")
        header_list.append((name.lower(), value.strip()))
    headers = {}
    for name, value in header_list:
        if name in headers:
            headers[name] = headers[name] + ", " + value
        else:
            headers[name] = value
    req.header_list = header_list
    req.headers = headers
    conn_hdr = headers.get("connection", "").lower()
    if req.version == "HTTP/1.0":
        req.keep_alive = "keep-alive" in conn_hdr
    else:
        req.keep_alive = "close" not in conn_hdr
    # body
    te = headers.get("transfer-encoding", "").lower()
    cl = headers.get("content-length")
    expects_body = bool(te) or (cl not in (None, "0"))
    if expects_body and headers.get("expect", "").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in te:
        chunks = []
        size_total = 0
        while True:
            size_line = rfile.readline(1024)
            if not size_line:
                raise ConnectionResetError("client went away inside a chunked body")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, "bad chunk size")
            if size == 0:
                while True:  # trailers
                    t = rfile.readline(MAX_HEADER_BYTES)
                    if t in (b"\r\n", b"\n", b""):
                        break
                break
            size_total += size
            if size_total > MAX_BODY:
                raise BadRequest(413, "body too large")
            data = rfile.read(size)
            if len(data) < size:
                raise ConnectionResetError("client went away inside a chunk")
            chunks.append(data)
            rfile.readline(16)
        req.body = b"".join(chunks)
    elif cl is not None:
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
        except ValueError:
            raise BadRequest(400, "bad content-length")
        if n > MAX_BODY:
            raise BadRequest(413, "body too large")
        req.body = rfile.read(n) if n else b""
        if len(req.body) < n:
            raise ConnectionResetError("client went away inside the body")
    else:
        req.body = b""
    return req


def redact_text(text, keys):
    """Replace every known key and anything that looks like an Anthropic key."""
    if not text:
        return text
    for key, label in keys:
        if key and key in text:
            text = text.replace(key, "<key:%s>" % label)
    return KEY_PATTERN.sub("<redacted-key>", text)


# --------------------------------------------------------------------------------------
# Scenario
# --------------------------------------------------------------------------------------

class ScenarioError(ValueError):
    pass


def normalise_behaviour(value, allowed, where):
    """-> ('one', (name, params)) or ('cycle', [(name, params), ...])"""
    def one(v):
        if isinstance(v, str):
            name, params = v, {}
        elif isinstance(v, dict):
            if not isinstance(v.get("name"), str):
                raise ScenarioError("%s: a behaviour object needs a string 'name'" % where)
            name = v["name"]
            params = {k: x for k, x in v.items() if k != "name"}
        else:
            raise ScenarioError("%s: a behaviour is a string, an object or a list" % where)
        if name not in allowed:
            raise ScenarioError("%s: unknown behaviour %r (known: %s)" % (where, name, ", ".join(sorted(allowed))))
        return (name, params)

    if isinstance(value, list):
        if not value:
            raise ScenarioError("%s: an empty list of behaviours" % where)
        return ("cycle", [one(v) for v in value])
    return ("one", one(value))


class KeyConf:
    __slots__ = ("key", "label", "org", "workspace", "specs")


class Scenario:
    def __init__(self, raw):
        if not isinstance(raw, dict):
            raise ScenarioError("a scenario is a JSON object")
        self.raw = raw
        self.default = normalise_behaviour(raw.get("default", "ok"), API_BEHAVIOURS, "default")
        uk = raw.get("unknown_key")
        self.unknown = normalise_behaviour(uk, API_BEHAVIOURS, "unknown_key") if uk is not None else self.default
        self.status = normalise_behaviour(raw.get("status_page", "operational"), STATUS_BEHAVIOURS, "status_page")
        self.gzip = bool(raw.get("gzip", False))
        it = raw.get("idle_timeout")
        if it is not None and not isinstance(it, (int, float)):
            raise ScenarioError("idle_timeout: a number of seconds or null")
        self.idle_timeout = it
        keys = raw.get("keys") or {}
        if not isinstance(keys, dict):
            raise ScenarioError("keys: an object mapping the key string to its settings")
        self.keys = {}
        for key, conf in keys.items():
            if conf is None:
                continue
            if not isinstance(conf, dict):
                raise ScenarioError("keys: each key maps to an object")
            kc = KeyConf()
            kc.key = key
            kc.label = str(conf.get("label") or ("key-" + hashlib.sha256(key.encode()).hexdigest()[:8]))
            kc.org = conf.get("org", DEFAULT_ORG)
            kc.workspace = conf.get("workspace")
            where = "keys[%s]" % kc.label
            base = normalise_behaviour(conf["behaviour"], API_BEHAVIOURS, where + ".behaviour") \
                if conf.get("behaviour") is not None else self.default
            kc.specs = {}
            for ep in ENDPOINTS:
                v = conf.get(ep)
                kc.specs[ep] = normalise_behaviour(v, API_BEHAVIOURS, where + "." + ep) if v is not None else base
            self.keys[key] = kc
        self.secrets = [(k, kc.label) for k, kc in self.keys.items()]
        self.status_canonical = json.dumps(raw.get("status_page", "operational"), sort_keys=True)

    def redacted(self):
        out = copy.deepcopy(self.raw)
        if isinstance(out.get("keys"), dict):
            out["keys"] = {("<key:%s>" % self.keys[k].label if k in self.keys else "<key>"): v
                           for k, v in out["keys"].items()}
        return out


def merge_patch(target, patch, field=None):
    """RFC 7396 JSON merge patch, except behaviour-valued fields which are replaced whole."""
    if not isinstance(patch, dict) or field in BEHAVIOUR_FIELDS:
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v, k)
    return result


# --------------------------------------------------------------------------------------
# Status page bodies
# --------------------------------------------------------------------------------------

def component_obj(cid, status, epoch, full=True):
    name = COMPONENT_NAMES.get(cid, cid)
    pos = next((p for c, _, p in BASE_COMPONENTS if c == cid), 99)
    obj = {"id": cid, "name": name, "status": status}
    if full:
        obj.update({
            "created_at": "2024-03-19T17:31:58.962Z",
            "updated_at": rfc3339(epoch - 30, millis=True),
            "position": pos, "description": None, "showcase": False, "start_date": None,
            "group_id": None, "page_id": PAGE_ID, "group": False, "only_show_if_degraded": False,
        })
    else:
        obj.update({"position": pos, "group": False, "group_id": None})
    return obj


def build_summary(name, params, epoch):
    """The summary.json for a JSON status scenario, timestamps relative to epoch."""
    p = params
    comp_status = {cid: "operational" for cid, _, _ in BASE_COMPONENTS}
    indicator = "none"
    incidents = []
    maints = []
    full = name != "operational"  # operational mirrors the trimmed real capture

    def ts(key, default_rel):
        v = p.get(key)
        return parse_time(v, epoch) if v is not None else rfc3339(epoch + default_rel, millis=True)

    def incident(iname, default_status, impact, affected, new_status, body):
        created = ts("incident_created_at", -120)
        updated = ts("incident_updated_at", -60)
        iid = p.get("incident_id") or short_id("incident:" + iname + created)
        ups = []
        for i, st in enumerate(reversed(p.get("incident_updates_statuses") or [default_status])):
            uid = short_id("update:%s:%d" % (iid, i))
            when = updated if i == 0 else created
            ups.append({
                "id": uid, "status": st, "body": body, "incident_id": iid,
                "created_at": when, "updated_at": when, "display_at": when,
                "affected_components": [{"code": c, "name": COMPONENT_NAMES.get(c, c),
                                         "old_status": "operational", "new_status": new_status}
                                        for c in affected],
                "deliver_notifications": True, "custom_tweet": None, "tweet_id": None,
            })
        return {
            "id": iid, "name": p.get("incident_name", iname),
            "status": p.get("incident_status", default_status),
            "created_at": created, "updated_at": updated, "monitoring_at": None, "resolved_at": None,
            "impact": p.get("impact", impact),
            "shortlink": p.get("shortlink", "https://stspg.io/" + short_id("link:" + iid, 12)),
            "started_at": created, "page_id": PAGE_ID,
            "incident_updates": ups,
            "components": [component_obj(c, new_status, epoch) for c in affected],
        }

    if name == "degraded":
        affected = p.get("affected", [API_COMPONENT_ID])
        st = p.get("component_status", "degraded_performance")
        for c in affected:
            comp_status[c] = st
        indicator = "minor"
        incidents.append(incident("Degraded performance on Claude API", "investigating", "minor",
                                  affected, st, "We are investigating reports of degraded performance on the Claude API."))
    elif name == "major_outage":
        affected = p.get("affected", [API_COMPONENT_ID])
        st = p.get("component_status", "major_outage")
        for c in affected:
            comp_status[c] = st
        indicator = "major"
        incidents.append(incident("Elevated errors on Claude API", "investigating", "major", affected, st,
                                  "We are currently investigating elevated error rates on the Claude API."))
    elif name == "partial_other_component":
        affected = p.get("affected", ["rwppv331jlwc"])
        st = p.get("component_status", "partial_outage")
        for c in affected:
            comp_status[c] = st
        indicator = "minor"
        incidents.append(incident("Elevated errors on claude.ai", "identified", "minor", affected, st,
                                  "The issue has been identified and a fix is being implemented."))
    elif name in ("maintenance", "maintenance_scheduled"):
        affected = p.get("affected", [API_COMPONENT_ID])
        in_progress = name == "maintenance"
        if in_progress:
            for c in affected:
                comp_status[c] = p.get("component_status", "under_maintenance")
            indicator = "maintenance"
            sched_for = ts("scheduled_for", -600)
            sched_until = ts("scheduled_until", 3000)
            mstatus = "in_progress"
        else:
            sched_for = ts("scheduled_for", 86400)
            sched_until = ts("scheduled_until", 86400 + 3600)
            mstatus = "scheduled"
        created = ts("incident_created_at", -86400)
        updated = ts("incident_updated_at", -600 if in_progress else -86400)
        mid = p.get("incident_id") or short_id("maint:" + created)
        maints.append({
            "id": mid, "name": p.get("incident_name", "Scheduled maintenance of the Claude API"),
            "status": p.get("incident_status", mstatus),
            "created_at": created, "updated_at": updated, "monitoring_at": None, "resolved_at": None,
            "impact": p.get("impact", "maintenance"),
            "shortlink": "https://stspg.io/" + short_id("link:" + mid, 12),
            "started_at": created, "page_id": PAGE_ID,
            "incident_updates": [{
                "id": short_id("mu:" + mid), "status": mstatus,
                "body": "Scheduled maintenance is currently in progress." if in_progress
                else "We will be performing scheduled maintenance.",
                "incident_id": mid, "created_at": updated, "updated_at": updated, "display_at": updated,
                "affected_components": [{"code": c, "name": COMPONENT_NAMES.get(c, c),
                                         "old_status": "operational",
                                         "new_status": "under_maintenance" if in_progress else "operational"}
                                        for c in affected],
                "deliver_notifications": True, "custom_tweet": None, "tweet_id": None}],
            "components": [component_obj(c, comp_status[c], epoch) for c in affected],
            "scheduled_for": sched_for, "scheduled_until": sched_until,
        })
    elif name == "unknown_enum":
        comp_status[API_COMPONENT_ID] = p.get("component_status", "partially_unavailable_v2")
        indicator = "catastrophic"
        incidents.append(incident("Something new on Claude API", "triaging", "severe",
                                  [API_COMPONENT_ID], comp_status[API_COMPONENT_ID],
                                  "A status nobody has seen before."))

    for cid, st in (p.get("components") or {}).items():
        comp_status[cid] = st
    indicator = p.get("indicator", indicator)
    page_updated = ts("page_updated_at", 0)
    if name == "operational" and not p.get("components"):
        # the real (trimmed) capture, with a fresh updated_at
        comps = [{"id": cid, "name": cname, "status": comp_status[cid], "position": pos,
                  "group": False, "group_id": None} for cid, cname, pos in BASE_COMPONENTS]
    else:
        comps = [component_obj(cid, comp_status[cid], epoch, full=full) for cid, _, _ in BASE_COMPONENTS]
    summary = {
        "page": {"id": PAGE_ID, "name": "Claude", "url": "https://status.claude.com",
                 "time_zone": "Etc/UTC", "updated_at": page_updated},
        "status": {"indicator": indicator,
                   "description": p.get("description", INDICATOR_DESCRIPTIONS.get(indicator, "Unknown Status"))},
        "components": comps,
        "incidents": incidents,
        "scheduled_maintenances": maints,
    }
    return summary


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------

class ConnInfo:
    __slots__ = ("id", "kind", "sock", "gen", "control", "requests", "peer")


class Fake:
    def __init__(self, host, verbose=False):
        self.host = host
        self.verbose = verbose
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.scenario = Scenario({})
        self.cycle = {}
        self.status_epoch = time.time()
        self.status_lm = int(self.status_epoch)
        self.status_cache = {}
        self.conns = {}
        self.next_conn_id = 1
        self.reported_errors = set()
        self.oversized_cache = {}
        self.listener_lock = threading.Lock()
        self.api_server = None
        self.status_server = None
        self.status_port = None
        self.api_port = None
        self.reset_stats()

    # ---- logging (never a key) ----
    def log(self, msg):
        msg = redact_text(msg, self.scenario.secrets)
        with self.log_lock:
            try:
                sys.stderr.write("fake_upstream: %s\n" % msg)
                sys.stderr.flush()
            except Exception:
                pass

    def log_exception(self, where):
        etype, evalue, tb = sys.exc_info()
        frames = traceback.extract_tb(tb)
        sig = (etype.__name__, tuple((f.filename, f.lineno) for f in frames[-3:]))
        with self.lock:
            self.errors += 1
            first = sig not in self.reported_errors
            self.reported_errors.add(sig)
        if first:
            self.log("exception in %s (logged once per kind): %s" % (
                where, "".join(traceback.format_exception(etype, evalue, tb)).rstrip()))

    # ---- stats ----
    def reset_stats(self):
        with self.lock:
            self.stats_gen = getattr(self, "stats_gen", 0) + 1
            self.accepted = {"api": 0, "status": 0}
            self.control_conns = 0
            self.total = 0
            self.by_endpoint = collections.Counter()
            self.by_label = collections.Counter()
            self.by_behaviour = collections.Counter()
            self.by_status = collections.Counter()
            self.by_label_endpoint = collections.defaultdict(collections.Counter)
            self.errors = 0
            self.log_entries = collections.deque(maxlen=10000)

    def conn_opened(self, kind, sock, peer):
        with self.lock:
            ci = ConnInfo()
            ci.id = self.next_conn_id
            self.next_conn_id += 1
            ci.kind = kind
            ci.sock = sock
            ci.gen = self.stats_gen
            ci.control = False
            ci.requests = 0
            ci.peer = peer
            self.accepted[kind] += 1
            self.conns[ci.id] = ci
            return ci

    def conn_closed(self, ci):
        with self.lock:
            self.conns.pop(ci.id, None)

    def mark_control(self, ci):
        with self.lock:
            if ci.requests == 0 and not ci.control:
                ci.control = True
                if ci.gen == self.stats_gen:
                    self.accepted[ci.kind] -= 1
                self.control_conns += 1

    def record(self, req, endpoint, label, behaviour, status):
        hdrs = {}
        hlist = []
        secrets = self.scenario.secrets
        key_labels = {k: l for k, l in secrets}
        for name, value in req.header_list:
            if name == "x-api-key":
                value = key_labels.get(value, "<unknown key>" if value else "")
            elif name in ("authorization", "proxy-authorization"):
                scheme, _, tok = value.partition(" ")
                value = scheme + " " + (key_labels.get(tok.strip(), "<redacted>") if tok else "<redacted>")
            else:
                value = redact_text(value, secrets)
            hlist.append([name, value])
            hdrs[name] = hdrs[name] + ", " + value if name in hdrs else value
        body_text = req.body[:4096].decode("utf-8", "replace") if req.body else ""
        entry = {
            "ts": req.received_at, "time": rfc3339(req.received_at, millis=True),
            "port": req.port_kind, "conn": req.conn_id,
            "method": req.method, "path": req.path, "query": req.query,
            "endpoint": endpoint, "label": label, "behaviour": behaviour, "status": status,
            "headers": hdrs, "header_list": hlist,
            "body_size": len(req.body), "body": redact_text(body_text, secrets),
        }
        with self.lock:
            self.total += 1
            self.by_endpoint[endpoint] += 1
            self.by_label[label] += 1
            self.by_behaviour[behaviour] += 1
            self.by_status[str(status)] += 1
            self.by_label_endpoint[label][endpoint] += 1
            self.log_entries.append(entry)
        if self.verbose:
            self.log("%s conn=%d %s %s label=%s behaviour=%s -> %s" % (
                req.port_kind, req.conn_id, req.method, req.path, label, behaviour, status))

    def stats(self):
        with self.lock:
            open_by = {"api": 0, "status": 0}
            for ci in self.conns.values():
                if not ci.control:
                    open_by[ci.kind] += 1
            return {
                "connections": {"api": self.accepted["api"], "status": self.accepted["status"],
                                "control": self.control_conns},
                "open_connections": open_by["api"] + open_by["status"],
                "open_connections_by_port": open_by,
                "requests": {
                    "total": self.total,
                    "by_endpoint": dict(self.by_endpoint),
                    "by_label": dict(self.by_label),
                    "by_behaviour": dict(self.by_behaviour),
                    "by_status": dict(self.by_status),
                    "by_label_endpoint": {k: dict(v) for k, v in self.by_label_endpoint.items()},
                },
                "errors": self.errors,
                "status_listener": "up" if self.status_server is not None else "down",
                "api_port": self.api_port, "status_port": self.status_port,
            }

    # ---- scenario ----
    def set_scenario(self, raw):
        sc = Scenario(raw)
        with self.lock:
            old = self.scenario
            self.scenario = sc
            self.cycle = {}
            if sc.status_canonical != old.status_canonical or not self.status_cache:
                now = time.time()
                self.status_epoch = now
                self.status_lm = max(int(now), self.status_lm + 1)
                self.status_cache = {}
        self.apply_listener_state()
        self.log("scenario set: default=%s keys=[%s] status_page=%s" % (
            json.dumps(raw.get("default", "ok")),
            ", ".join("%s:%s" % (kc.label, json.dumps({ep: s[1][0] if s[0] == "one" else "cycle"
                                                       for ep, s in kc.specs.items()}))
                      for kc in sc.keys.values()),
            sc.status_canonical))

    def patch_scenario(self, patch):
        if not isinstance(patch, dict):
            raise ScenarioError("a patch is a JSON object")
        patch = dict(patch)
        base = copy.deepcopy(self.scenario.raw)
        by_label = patch.pop("labels", None)
        if by_label:
            if not isinstance(by_label, dict):
                raise ScenarioError("labels: an object mapping a label to key settings")
            keys_patch = dict(patch.get("keys") or {})
            for label, conf in by_label.items():
                matches = [k for k, kc in self.scenario.keys.items() if kc.label == label]
                if not matches:
                    raise ScenarioError("labels: no key has the label %r" % label)
                for k in matches:
                    keys_patch[k] = conf
            patch["keys"] = keys_patch
        self.set_scenario(merge_patch(base, patch))

    def pick(self, spec, cycle_key):
        kind, val = spec
        if kind == "one":
            return val
        with self.lock:
            i = self.cycle.get(cycle_key, 0)
            self.cycle[cycle_key] = i + 1
        return val[i % len(val)]

    # ---- status listener (can be taken down) ----
    def make_server(self, port, kind):
        srv = Server((self.host, port), Handler)
        srv.fake = self
        srv.kind = kind
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                             name="serve-" + kind, daemon=True)
        t.start()
        return srv

    def apply_listener_state(self):
        sc = self.scenario
        want_down = sc.status[0] == "one" and sc.status[1][0] == "down"
        with self.listener_lock:
            if want_down and self.status_server is not None:
                srv = self.status_server
                self.status_server = None
                srv.shutdown()
                srv.server_close()
                with self.lock:
                    victims = [ci.sock for ci in self.conns.values() if ci.kind == "status"]
                for s in victims:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                self.log("status listener closed (port %d refuses connections)" % self.status_port)
            elif not want_down and self.status_server is None and self.status_port is not None:
                self.status_server = self.make_server(self.status_port, "status")
                self.log("status listener open on port %d" % self.status_port)

    # ---- dispatch ----
    def handle_request(self, conn, ci, req):
        """Answer one request. Returns True to keep the connection open."""
        if ci.kind == "api" and req.path.startswith("/_fake/"):
            self.mark_control(ci)
            ci.requests += 1
            return self.control(conn, req)
        ci.requests += 1
        if req.path in ("/api/v2/summary.json", "/api/v2/status.json"):
            return self.status_request(conn, ci, req)
        if ci.kind == "status":
            resp = html_response(404, STATUS_404)
            self.record(req, "other", "-", "not_found", 404)
            return conn.send(resp, req)
        ep = {"/v1/models": "models", "/v1/messages/count_tokens": "count_tokens",
              "/v1/messages": "messages"}.get(req.path)
        if ep is None:
            resp = self.api_error_response(req, None, 404, "not_found_error", "Not Found", None, {})
            self.record(req, "other", "-", "not_found", 404)
            return conn.send(resp, req)
        return self.api_request(conn, ci, req, ep)

    def api_request(self, conn, ci, req, ep):
        sc = self.scenario
        key = req.headers.get("x-api-key")
        kc = sc.keys.get(key) if key is not None else None
        if kc is not None:
            label, spec, ck = kc.label, kc.specs[ep], (key, ep)
        elif key is not None:
            label, spec, ck = "unknown", sc.unknown, ("<unknown>", ep)
        else:
            label, spec, ck = "-", sc.default, ("<none>", ep)
            auth = req.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                tok = auth[7:].strip()
                if tok in sc.keys:
                    label = sc.keys[tok].label
        name, params = self.pick(spec, ck)
        delay = params.get("delay")
        if name == "slow" and delay is None:
            delay = 2.0
        if delay:
            time.sleep(float(delay))
        if name in EDGE_BEHAVIOURS:
            return self.run_behaviour(conn, req, ep, kc, label, name, params)
        # what the API itself checks before the key's own state
        if key is None:
            auth = req.headers.get("authorization")
            msg = ("OAuth authentication is currently not supported." if auth and auth.lower().startswith("bearer ")
                   else "x-api-key header is required")
            resp = self.api_error_response(req, None, 401, "authentication_error", msg, None, {}, org=False)
            self.record(req, ep, label, "missing_key", 401)
            return conn.send(resp, req)
        version = req.headers.get("anthropic-version")
        if version is None:
            resp = self.api_error_response(req, kc, 400, "invalid_request_error",
                                           "anthropic-version: header is required", None, {})
            self.record(req, ep, label, "missing_version", 400)
            return conn.send(resp, req)
        if version not in VALID_VERSIONS:
            resp = self.api_error_response(req, kc, 400, "invalid_request_error",
                                           'anthropic-version: "%s" is not a valid version' % version, None, {})
            self.record(req, ep, label, "invalid_version", 400)
            return conn.send(resp, req)
        return self.run_behaviour(conn, req, ep, kc, label, name, params)

    def run_behaviour(self, conn, req, ep, kc, label, name, params):
        b = name
        if name in API_ERRORS:
            status, etype, msg, details = API_ERRORS[name]
            model = params.get("model") or request_model(req) or "claude-3-5-sonnet-latest"
            org = kc.org if kc and kc.org else DEFAULT_ORG
            msg = params.get("message", msg)
            msg = msg.replace("{model}", str(model)).replace(
                "{version}", str(params.get("version", req.headers.get("anthropic-version", "")))).replace(
                "{org}", str(org)).replace("{limit}", "50")
            status = int(params.get("status", status))
            etype = params.get("error_type", etype)
            details = params.get("details", details)
            extra = []
            if name == "rate_limited":
                ra = params.get("retry_after", 30)
                if ra is not None:
                    extra.append(("retry-after", str(ra)))
            resp = self.api_error_response(req, kc, status, etype, msg, details, params,
                                           org=name != "auth_invalid", extra=extra, behaviour=name)
            self.record(req, ep, label, b, status)
            return conn.send(resp, req)
        if name in ("ok", "slow"):
            err = validate_body(req, ep)
            if err:
                resp = self.api_error_response(req, kc, 400, "invalid_request_error", err, None, {})
                self.record(req, ep, label, "invalid_body", 400)
                return conn.send(resp, req)
            body = ok_body(req, ep, params)
            resp = Response(200, self.api_headers(kc, params, 200), body)
            self.finish_api(req, resp, params)
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        if name in ("edge_502", "edge_503", "edge_520", "edge_403"):
            status = int(name[5:])
            text = {502: EDGE_502, 503: EDGE_503, 520: EDGE_520, 403: EDGE_403}[status]
            ray = cf_ray()
            resp = Response(status, edge_headers(ray, "text/html"), text.replace("{ray}", ray[:16]).encode(),
                            mode="chunked" if params.get("chunked") else "normal")
            add_param_headers(resp, params)
            self.record(req, ep, label, b, status)
            return conn.send(resp, req)
        if name == "edge_403_json":
            resp = Response(403, edge_headers(cf_ray(), "application/json"),
                            b'{"error":{"type":"forbidden","message":"Request not allowed"}}',
                            mode="chunked" if params.get("chunked", True) else "normal")
            add_param_headers(resp, params)
            self.record(req, ep, label, b, 403)
            return conn.send(resp, req)
        if name == "garbage_200":
            body = params.get("body", "\x00\x1f\x8b<<not json>> \xff\xfe garbage \x01\x02").encode("latin-1", "replace")
            resp = Response(200, self.api_headers(kc, params, 200, content_type="application/json"), body)
            self.finish_api(req, resp, params, compress=False)
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        if name == "other_json_200":
            body = json.dumps(params.get("body", {"status": "ok", "result": [1, 2, 3],
                                                  "note": "not an Anthropic API answer"})).encode()
            resp = Response(200, self.api_headers(kc, params, 200), body)
            self.finish_api(req, resp, params)
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        if name == "truncated":
            body = ok_body(req, ep, params)
            n = int(params.get("send_bytes", len(body) // 2))
            resp = Response(200, self.api_headers(kc, params, 200), body[:n], mode="truncated", close=True)
            resp.declared_length = int(params.get("declared_length", len(body)))
            add_param_headers(resp, params)
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        if name == "oversized":
            size = int(params.get("size", 10 * 1024 * 1024))
            body = self.oversized_body(ep, size)
            resp = Response(200, self.api_headers(kc, params, 200), body)
            add_param_headers(resp, params)
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        if name == "endless":
            self.record(req, ep, label, b, 200)
            return conn.endless(self.api_headers(kc, params, 200), params)
        if name == "hang":
            self.record(req, ep, label, b, None)
            conn.hang(float(params.get("timeout", 120)))
            return False
        if name == "reset":
            self.record(req, ep, label, b, None)
            conn.reset()
            return False
        if name == "close":
            self.record(req, ep, label, b, None)
            return False
        if name == "raw":
            status = int(params.get("status", 200))
            hdrs = self.api_headers(kc, params, status) if params.get("api_headers") else \
                [("date", http_date())]
            if "body_b64" in params:
                import base64
                body = base64.b64decode(params["body_b64"])
            else:
                body = params.get("body", "")
                body = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            resp = Response(status, hdrs, body, mode="chunked" if params.get("chunked") else "normal")
            add_param_headers(resp, params)
            self.record(req, ep, label, b, status)
            return conn.send(resp, req)
        raise AssertionError("unhandled behaviour " + name)

    def oversized_body(self, ep, size):
        with self.lock:
            cached = self.oversized_cache.get((ep, size))
        if cached is not None:
            return cached
        if ep == "models":
            one = json.dumps({"type": "model", "id": "claude-padding-model", "display_name": "Padding",
                              "created_at": "2025-01-01T00:00:00Z"})
            n = max(1, (size - 100) // (len(one) + 1))
            body = ('{"data":[' + ",".join([one] * n) + '],"has_more":true,"first_id":"claude-padding-model",'
                    '"last_id":"claude-padding-model"}')
        elif ep == "count_tokens":
            body = '{"input_tokens":8,"padding":"' + "x" * max(0, size - 40) + '"}'
        else:
            head = ('{"id":"msg_01Padding","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001",'
                    '"content":[{"type":"text","text":"')
            tail = ('"}],"stop_reason":"max_tokens","stop_sequence":null,'
                    '"usage":{"input_tokens":8,"output_tokens":1}}')
            body = head + "a" * max(0, size - len(head) - len(tail)) + tail
        data = body.encode()
        with self.lock:
            self.oversized_cache[(ep, size)] = data
        return data

    def api_headers(self, kc, params, status, content_type="application/json", org=True):
        h = [("date", http_date()), ("content-type", content_type)]
        if status in (200, 429) and params.get("ratelimit", True) is not False:
            h.extend(ratelimit_headers(params, status))
        if status == 429 or status >= 500:
            h.append(("x-should-retry", "true"))
        elif status >= 400:
            h.append(("x-should-retry", "false"))
        h.append(("request-id", params.get("request_id") or request_id()))
        if org:
            h.append(("anthropic-organization-id", kc.org if kc and kc.org else DEFAULT_ORG))
            if kc and kc.workspace:
                h.append(("anthropic-workspace-id", kc.workspace))
        h.extend([("via", "1.1 google"), ("cf-cache-status", "DYNAMIC"), ("x-robots-tag", "none"),
                  ("server", "cloudflare"), ("cf-ray", cf_ray()),
                  ("x-envoy-upstream-service-time", str(random.randint(20, 400)))])
        return h

    def api_error_response(self, req, kc, status, etype, msg, details, params, org=True, extra=(), behaviour=None):
        hdrs = self.api_headers(kc, params, status, org=org)
        hdrs.extend(extra)
        rid = next(v for k, v in hdrs if k == "request-id")
        err = {"type": etype, "message": msg}
        if details is not None:
            err["details"] = details
        body = {"type": "error", "error": err}
        mode = params.get("body_request_id", "present")
        if mode == "present":
            body["request_id"] = rid
        elif mode == "null":
            body["request_id"] = None
        resp = Response(status, hdrs, json.dumps(body, separators=(",", ":")).encode())
        self.finish_api(req, resp, params)
        return resp

    def finish_api(self, req, resp, params, compress=True):
        add_param_headers(resp, params)
        if params.get("chunked"):
            resp.mode = "chunked"
        if compress and self.scenario.gzip and "gzip" in req.headers.get("accept-encoding", "") and resp.body:
            resp.body = gzip.compress(resp.body, 5)
            resp.headers.append(("content-encoding", "gzip"))
            resp.headers.append(("vary", "Accept-Encoding"))

    # ---- status page ----
    def status_request(self, conn, ci, req):
        sc = self.scenario
        name, params = self.pick(sc.status, ("<status>",))
        label = "status"
        ep = "status"
        delay = params.get("delay")
        if name == "slow":
            if delay is None:
                delay = 2.0
        if delay:
            time.sleep(float(delay))
        if name == "slow":
            name = params.get("then", "operational")
            if name not in STATUS_JSON_BEHAVIOURS:
                name = "operational"
        b = "status:" + name
        if name == "down":
            # on the status port the listener is closed; here (API port or a cycle) close the connection
            self.record(req, ep, label, b, None)
            conn.reset()
            return False
        if name == "reset":
            self.record(req, ep, label, b, None)
            conn.reset()
            return False
        if name == "close":
            self.record(req, ep, label, b, None)
            return False
        if name == "hang":
            self.record(req, ep, label, b, None)
            conn.hang(float(params.get("timeout", 120)))
            return False
        if name == "not_found":
            self.record(req, ep, label, b, 404)
            return conn.send(html_response(404, STATUS_404), req)
        if name == "server_error":
            self.record(req, ep, label, b, 503)
            return conn.send(html_response(503, STATUS_503), req)
        if name == "garbage":
            resp = Response(200, [("date", http_date()), ("content-type", "application/json; charset=utf-8")],
                            b"<!DOCTYPE html><html><body>\x00\xff not json at all</body></html>")
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        body, etag, lm = self.status_body(name, params)
        if req.path == "/api/v2/status.json":
            s = json.loads(body)
            body = json.dumps({"page": s["page"], "status": s["status"]}, separators=(",", ":")).encode()
            etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        if name == "truncated_json":
            resp = Response(200, [("date", http_date()), ("content-type", "application/json; charset=utf-8")],
                            body[: len(body) // 2])
            self.record(req, ep, label, b, 200)
            return conn.send(resp, req)
        lm_text = email.utils.formatdate(lm, usegmt=True)
        hdrs = [("date", http_date()), ("etag", etag), ("last-modified", lm_text),
                ("cache-control", "max-age=0, private, must-revalidate"), ("vary", "Accept-Encoding"),
                ("x-statuspage-version", "fake")]
        if not_modified(req, etag, lm):
            self.record(req, ep, label, b, 304)
            return conn.send(Response(304, hdrs, b"", mode="nobody"), req)
        hdrs.insert(1, ("content-type", "application/json; charset=utf-8"))
        resp = Response(200, hdrs, body)
        self.record(req, ep, label, b, 200)
        return conn.send(resp, req)

    def status_body(self, name, params):
        src = "truncated_json" if name == "truncated_json" else None
        if src:
            name = params.get("then", "operational")
            if name not in STATUS_JSON_BEHAVIOURS:
                name = "operational"
        ck = json.dumps([name, params], sort_keys=True)
        with self.lock:
            hit = self.status_cache.get(ck)
            epoch, lm = self.status_epoch, self.status_lm
        if hit:
            return hit
        body = json.dumps(build_summary(name, params, epoch), separators=(",", ":")).encode()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        val = (body, etag, lm)
        with self.lock:
            if self.status_epoch == epoch:
                self.status_cache[ck] = val
        return val

    # ---- control API ----
    def control(self, conn, req):
        path = req.path
        q = urllib.parse.parse_qs(req.query)
        try:
            if path == "/_fake/scenario" and req.method in ("POST", "PUT"):
                self.set_scenario(json.loads(req.body or b"{}"))
                return conn.send(json_response(200, {"ok": True}), req)
            if path == "/_fake/scenario" and req.method == "PATCH":
                self.patch_scenario(json.loads(req.body or b"{}"))
                return conn.send(json_response(200, {"ok": True}), req)
            if path == "/_fake/scenario" and req.method == "GET":
                return conn.send(json_response(200, self.scenario.redacted()), req)
            if path == "/_fake/stats" and req.method == "GET":
                return conn.send(json_response(200, self.stats()), req)
            if path == "/_fake/reset_stats" and req.method == "POST":
                self.reset_stats()
                return conn.send(json_response(200, {"ok": True}), req)
            if path == "/_fake/requests" and req.method == "GET":
                limit = int(q.get("limit", ["100"])[0])
                with self.lock:
                    entries = list(self.log_entries)
                for f in ("label", "endpoint", "port"):
                    if f in q:
                        entries = [e for e in entries if str(e[f]) == q[f][0]]
                entries = entries[-limit:] if limit > 0 else []
                return conn.send(json_response(200, entries), req)
            if path == "/_fake/health":
                return conn.send(json_response(200, {"ok": True}), req)
            return conn.send(json_response(404, {"error": "no such control endpoint: %s %s" % (req.method, path)}), req)
        except (ScenarioError, ValueError) as e:
            return conn.send(json_response(400, {"error": redact_text(str(e), self.scenario.secrets)}), req)


def not_modified(req, etag, lm):
    inm = req.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        bare = etag.strip('"')
        return any(t == "*" or t.replace("W/", "", 1).strip('"') == bare for t in tags)
    ims = req.headers.get("if-modified-since")
    if ims is not None:
        try:
            t = email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return lm <= t
    return False


def request_model(req):
    if not req.body:
        return None
    try:
        d = json.loads(req.body)
        m = d.get("model") if isinstance(d, dict) else None
        return m if isinstance(m, str) else None
    except ValueError:
        return None


def resolve_model(m):
    for mid, _, _ in MODELS:
        if m == mid or mid.startswith(m + "-"):
            return mid
    return m


def validate_body(req, ep):
    if ep == "models":
        return None
    if not req.body:
        return "messages: Field required"
    try:
        d = json.loads(req.body)
    except ValueError:
        return "There was an error parsing the body of your request: invalid JSON"
    if not isinstance(d, dict):
        return "Input should be an object"
    if not isinstance(d.get("model"), str):
        return "model: Field required"
    if not isinstance(d.get("messages"), list):
        return "messages: Field required"
    if ep == "messages":
        mt = d.get("max_tokens")
        if mt is None:
            return "max_tokens: Field required"
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            return "max_tokens: Input should be greater than or equal to 1"
    return None


def ok_body(req, ep, params):
    if ep == "models":
        q = urllib.parse.parse_qs(req.query)
        try:
            limit = max(1, min(1000, int(q.get("limit", ["20"])[0])))
        except ValueError:
            limit = 20
        items = [{"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in MODELS[:limit]]
        body = {"data": items, "has_more": params.get("has_more", limit < len(MODELS)),
                "first_id": items[0]["id"], "last_id": items[-1]["id"]}
    elif ep == "count_tokens":
        body = {"input_tokens": int(params.get("input_tokens", 8))}
    else:
        model = resolve_model(request_model(req) or "claude-haiku-4-5")
        out = int(params.get("output_tokens", 1))
        body = {
            "id": "msg_01" + "".join(random.choices(B58, k=22)),
            "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": params.get("text", "Hi")}],
            "stop_reason": params.get("stop_reason", "max_tokens"), "stop_sequence": None,
            "usage": {"input_tokens": int(params.get("input_tokens", 8)),
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": out, "service_tier": "standard"},
        }
    return json.dumps(body, separators=(",", ":")).encode()


RL_DEFAULTS = {  # resource -> (limit, remaining, reset in seconds from now)
    "requests": (50, 49, 1),
    "tokens": (38000, 36000, 5),
    "input-tokens": (30000, 28000, 5),
    "output-tokens": (8000, 8000, 4),
}


def ratelimit_headers(params, status):
    now = time.time()
    overrides = params.get("ratelimit") if isinstance(params.get("ratelimit"), dict) else {}
    overrides = {k.replace("_", "-"): v for k, v in overrides.items()}
    exhausted = None
    retry = params.get("retry_after", 30)
    if status == 429:
        exhausted = params.get("resource", "requests").replace("_", "-")
    out = []
    for res, (limit, remaining, reset_in) in RL_DEFAULTS.items():
        ov = overrides.get(res, {})
        if ov is None:
            continue
        reset = now + reset_in
        if res == exhausted:
            remaining = 0
            reset = now + (retry if isinstance(retry, (int, float)) else 30)
        limit = ov.get("limit", limit)
        remaining = ov.get("remaining", remaining)
        reset_s = ov.get("reset") or rfc3339(reset)
        out.append(("anthropic-ratelimit-%s-limit" % res, str(limit)))
        out.append(("anthropic-ratelimit-%s-remaining" % res, str(remaining)))
        out.append(("anthropic-ratelimit-%s-reset" % res, reset_s))
    return out


def add_param_headers(resp, params):
    extra = params.get("headers")
    if not isinstance(extra, dict):
        return
    for name, value in extra.items():
        lname = name.lower()
        resp.headers = [(k, v) for k, v in resp.headers if k != lname]
        if value is not None:
            resp.headers.append((lname, str(value)))


def edge_headers(ray, ctype):
    return [("date", http_date()), ("content-type", ctype), ("server", "cloudflare"), ("cf-ray", ray),
            ("x-robots-tag", "none")]


def html_response(status, text):
    return Response(status, [("date", http_date()), ("content-type", "text/html; charset=utf-8")], text.encode())


def json_response(status, obj):
    return Response(status, [("date", http_date()), ("content-type", "application/json")],
                    json.dumps(obj).encode())


# --------------------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------------------

class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 4096

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass

    def handle_error(self, request, client_address):
        self.fake.log_exception("server")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        fake = self.server.fake
        kind = self.server.kind
        sock = self.request
        self.closed = False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        ci = fake.conn_opened(kind, sock, self.client_address)
        self.rfile = sock.makefile("rb", 65536)
        try:
            while True:
                sock.settimeout(fake.scenario.idle_timeout)
                try:
                    req = read_request(self.rfile, sock, kind, ci.id)
                except BadRequest as e:
                    try:
                        resp = html_response(e.status, "<html><body><h1>%d %s</h1></body></html>\n" % (
                            e.status, REASONS.get(e.status, "")))
                        resp.close = True
                        self.send(resp, None)
                    except OSError:
                        pass
                    break
                if req is None:
                    break
                sock.settimeout(120)
                if not fake.handle_request(self, ci, req) or not req.keep_alive:
                    break
        except (ConnectionError, TimeoutError, socket.timeout, BrokenPipeError):
            pass
        except OSError as e:
            if e.errno not in (9, 32, 104, 107, 110):  # EBADF EPIPE ECONNRESET ENOTCONN ETIMEDOUT
                fake.log_exception("connection")
        except Exception:
            fake.log_exception("connection")
        finally:
            fake.conn_closed(ci)
            self.close()

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.rfile.close()
        except Exception:
            pass
        try:
            self.request.close()
        except OSError:
            pass

    def send(self, resp, req):
        """Write a Response. Returns True when the connection may be kept open."""
        status = resp.status
        reason = resp.reason if resp.reason is not None else REASONS.get(status, "")
        lines = ["HTTP/1.1 %d %s" % (status, reason)]
        lines.extend("%s: %s" % kv for kv in resp.headers)
        body = resp.body
        close = resp.close or (req is not None and not req.keep_alive)
        if resp.mode == "normal":
            lines.append("content-length: %d" % len(body))
        elif resp.mode == "truncated":
            lines.append("content-length: %d" % resp.declared_length)
            close = True
        elif resp.mode == "chunked":
            lines.append("transfer-encoding: chunked")
            body = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        elif resp.mode == "nobody":
            body = b""
        if req is not None and req.method == "HEAD":
            body = b""
        lines.append("connection: close" if close else "connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if len(body) > 65536:
            self.request.sendall(head)
            self.request.sendall(body)
        else:
            self.request.sendall(head + body)
        if resp.mode == "truncated":
            try:
                self.request.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return not close

    def endless(self, headers, params):
        lines = ["HTTP/1.1 200 OK"] + ["%s: %s" % kv for kv in headers] + ["transfer-encoding: chunked"]
        self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        interval = float(params.get("interval", 0.05))
        size = int(params.get("chunk_size", 1024))
        deadline = time.monotonic() + float(params.get("duration", 60))
        unit = b'{"type":"model","id":"claude-endless","display_name":"Endless","created_at":"2025-01-01T00:00:00Z"},'
        chunk = (unit * (size // len(unit) + 1))[:size]
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        self.request.sendall(b'%x\r\n{"data":[\r\n' % len(b'{"data":['))
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.request], [], [], interval)
            if r:
                try:
                    if not self.request.recv(65536, socket.MSG_DONTWAIT):
                        break  # client went away
                except BlockingIOError:
                    pass
            self.request.sendall(frame)
        return False  # never terminate the body: just close

    def hang(self, timeout):
        """Send nothing; hold the socket until the client closes it or timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.request], [], [], min(left, 1.0))
            if r:
                try:
                    if not self.request.recv(65536):
                        return
                except OSError:
                    return

    def reset(self):
        """Close with a TCP RST (SO_LINGER 0)."""
        try:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--status-port", type=int, default=0)
    ap.add_argument("--scenario", help="JSON scenario file")
    ap.add_argument("--verbose", action="store_true", help="log every request (with labels, never keys)")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the parent process goes away (no orphans when a test runner dies)")
    args = ap.parse_args(argv)

    threading.stack_size(512 * 1024)
    # with thousands of connection threads the default 5 ms GIL switch interval thrashes
    sys.setswitchinterval(0.05)
    fake = Fake(args.host, verbose=args.verbose)
    raw = {}
    if args.scenario:
        with open(args.scenario, encoding="utf-8") as f:
            raw = json.load(f)
    try:
        fake.set_scenario(raw)
    except ScenarioError as e:
        fake.log("bad scenario: %s" % e)
        return 2

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    except (AttributeError, ValueError):
        pass

    fake.api_server = fake.make_server(args.port, "api")
    fake.api_port = fake.api_server.server_address[1]
    # bind the status port (even when the scenario starts "down", to own a port number)
    st = Server((args.host, args.status_port), Handler, bind_and_activate=False)
    st.server_bind()
    fake.status_port = st.server_address[1]
    st.server_close()
    fake.apply_listener_state()
    sys.stdout.write("listening api_port=%d status_port=%d\n" % (fake.api_port, fake.status_port))
    sys.stdout.flush()
    fake.log("listening on %s api_port=%d status_port=%d" % (args.host, fake.api_port, fake.status_port))

    parent = os.getppid()
    while not stop.wait(0.5):
        if args.exit_with_parent and os.getppid() != parent:
            fake.log("parent process went away")
            break
    fake.log("stopping")
    try:
        fake.api_server.shutdown()
        fake.api_server.server_close()
        with fake.listener_lock:
            if fake.status_server is not None:
                fake.status_server.shutdown()
                fake.status_server.server_close()
    except Exception:
        pass
    try:
        sys.stderr.flush()
        sys.stdout.flush()
    except Exception:
        pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
