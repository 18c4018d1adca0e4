#!/usr/bin/python3
"""Reference implementation of docs/projection-rules.md for the end-to-end test.

Applies the rules to feed files (protobuf-JSON lines; CSV with JSON-path headers) in global
file order (feeds in command-line order) and writes what supervision.locality_overview must
contain plus a JSON summary. Standard library only; shares no code with the C projector.
Lines that cannot be mapped to an Event at all (bad JSON, unknown field or enum name, two
bodies) are "refused at publish": counted in refused_at_publish, not in events.

Geography (issue 13): with --units (unit versions) and --lineage (the statistics office's
conversion tables) + --effective, an event's locality is resolved at its local date as
docs/projection-rules.md says, twinnings follow their commune, and --out-geo writes
locality_overview in today's geography and at each --geo-date. --lineage-after K loads the
lineage only after the first K feeds and then replays the unknown_locality dead letters, as
an operator's late load + `twinctl dlq replay --reason unknown_locality` does.
"""
import argparse
import csv
import io
import json
import re
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

ENUMS = {
    "Category": ["CATEGORY_UNSPECIFIED", "ECONOMIC_MODEL", "MODEL_REPLICATION", "INFRASTRUCTURE",
                 "HOUSING", "LIVELIHOOD_GOODS", "CADRE_TRAINING", "VOCATIONAL_TRAINING",
                 "JOB_CREATION", "SOCIAL_SECURITY", "OTHER"],
    "FundingSource": ["FUNDING_UNSPECIFIED", "OWN_BUDGET", "MOBILISED"],
    "Audience": ["AUDIENCE_UNSPECIFIED", "LOCAL_CADRES", "RESIDENTS_VOCATIONAL"],
}
CAT = {name: i for i, name in enumerate(ENUMS["Category"])}
SUBSTANTIVE = {CAT[c] for c in ("ECONOMIC_MODEL", "MODEL_REPLICATION", "CADRE_TRAINING",
                                "VOCATIONAL_TRAINING", "JOB_CREATION", "INFRASTRUCTURE")}

# Field kinds: "s" string, "i64", "u32", or an enum name.
HEADER = {"event_id": "s", "schema_version": "u32", "agency_code": "s", "locality_code": "s",
          "occurred_at_ms": "i64", "recorded_at_ms": "i64", "source_system": "s",
          "source_ref": "s", "actor": "s"}
BODIES = {
    "twinning_signed": {"programme": "s", "start_date": "s", "end_date": "s"},
    "twinning_ended": {"reason": "s"},
    "visit": {"purpose": "s", "participants": "u32", "gift_value_vnd": "i64", "notes": "s"},
    "support_pledged": {"pledge_id": "s", "category": "Category", "amount_vnd": "i64",
                        "in_kind": "s", "in_kind_value_vnd": "i64", "target_quantity": "i64",
                        "unit": "s", "due_date": "s", "funding": "FundingSource"},
    "support_delivered": {"pledge_id": "s", "category": "Category", "amount_vnd": "i64",
                          "quantity": "i64", "evidence_ref": "s"},
    "training_delivered": {"pledge_id": "s", "audience": "Audience", "topic": "s",
                           "trainees": "u32", "hours": "u32"},
    "pledge_revised": {"pledge_id": "s", "new_due_date": "s", "new_amount_vnd": "i64",
                       "new_target_quantity": "i64", "reason": "s"},
    "pledge_cancelled": {"pledge_id": "s", "reason": "s"},
    "feed_heartbeat": {},
}
REVISING = ("pledge_revised", "pledge_cancelled")
PLEDGE_ID_REQUIRED = ("support_pledged",) + REVISING
MAX_AMOUNT = 10 ** 15
DAY_MS = 86_400_000
TZ_MS = 7 * 3_600_000
EVENT_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:twinwatch:event")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INT_RE = re.compile(r"-?[0-9]+")
MEASURES = ("visits", "gift_value_vnd", "delivered_vnd", "trainees", "jobs",
            "models_replicated", "substantive_activities", "formal_activities")
COLUMNS = ("locality_code twinnings_active pledges_open pledges_fulfilled pledges_cancelled "
           "pledges_overdue pledged_vnd delivered_vnd fulfilment_pct visits gift_value_vnd "
           "trainees jobs models_replicated substantive_activities formal_activities "
           "last_activity_ms").split()

def camel(name):
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)

def names_of(spec):
    """JSON key -> proto field name; the JSON mapping accepts both spellings."""
    return {**{camel(n): n for n in spec}, **{n: n for n in spec}}

BODY_KEYS = names_of(BODIES)
BODY_TYPES = {n.replace("_", ""): n for n in BODIES}  # CSV `type`: any spelling, any case

class Refused(Exception):
    """The line cannot be mapped to an Event: the publisher refuses it."""

def to_int(v, lo, hi):
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, float) and v.is_integer() or isinstance(v, str) and INT_RE.fullmatch(v):
        n = int(v)
    else:
        raise Refused(f"not an integer: {v!r}")
    if not lo <= n <= hi:
        raise Refused(f"integer out of range: {n}")
    return n

def convert(v, kind):
    if kind == "s":
        if not isinstance(v, str):
            raise Refused(f"not a string: {v!r}")
        return v
    if kind == "i64":
        return to_int(v, -2 ** 63, 2 ** 63 - 1)
    if kind == "u32":
        return to_int(v, 0, 2 ** 32 - 1)
    if isinstance(v, str) and v in ENUMS[kind]:  # enum by name
        return ENUMS[kind].index(v)
    if isinstance(v, str) and not INT_RE.fullmatch(v):
        raise Refused(f"unknown {kind} name {v!r}")
    return to_int(v, -2 ** 31, 2 ** 31 - 1)  # open enum: unknown numbers survive mapping

def map_message(obj, spec, where):
    if not isinstance(obj, dict):
        raise Refused(f"{where} is not an object")
    out = {n: ("" if k == "s" else 0) for n, k in spec.items()}
    keys = names_of(spec)
    for key, v in obj.items():
        if key not in keys:
            raise Refused(f"unknown field {where}.{key}")
        if v is not None:  # JSON null = default
            out[keys[key]] = convert(v, spec[keys[key]])
    return out

def map_event(obj):
    """A protobuf-JSON object -> event dict (all header fields, 'body', 'b')."""
    if not isinstance(obj, dict):
        raise Refused("not a JSON object")
    top, body, b = {}, None, {}
    for key, v in obj.items():
        if key in BODY_KEYS:
            if v is None:
                continue
            if body is not None:
                raise Refused("more than one body")
            body = BODY_KEYS[key]
            b = map_message(v, BODIES[body], key)
        else:
            top[key] = v
    ev = map_message(top, HEADER, "Event")
    if not ev["event_id"]:
        ev["event_id"] = str(uuid.uuid5(EVENT_NS, ev["source_system"] + "\n" + ev["source_ref"]))
    ev["body"], ev["b"] = body, b
    return ev

def canonical(ev):
    """Stands for the canonical protobuf bytes: set, non-default fields only."""
    head = {k: v for k, v in ev.items() if k not in ("body", "b") and v}
    return json.dumps([head, ev["body"], {k: v for k, v in ev["b"].items() if v}], sort_keys=True)

def read_jsonl(path):
    data = open(path, "rb").read()
    for raw in data[3 if data.startswith(b"\xef\xbb\xbf") else 0:].split(b"\n"):
        if not raw.strip():
            continue
        try:
            yield map_event(json.loads(raw.decode("utf-8")))
        except (Refused, ValueError) as e:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
            yield Refused(f"{path}: {e}")

def read_csv(path):
    rows = csv.reader(io.StringIO(open(path, "rb").read().decode("utf-8-sig"), newline=""))
    header = next(rows, None) or []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) > len(header):
                raise Refused("more cells than header columns")
            obj, typ = {}, ""
            for col, cell in zip(header, row):
                col = col.strip()
                if cell == "":
                    continue  # empty cell = unset
                if col == "type":
                    typ = cell.strip()
                elif "." in col:
                    prefix, fname = col.split(".", 1)
                    prefix = camel(BODY_KEYS.get(prefix, prefix))
                    obj.setdefault(prefix, {})[fname] = cell
                else:
                    obj[col] = cell
            if typ:
                name = BODY_TYPES.get(typ.replace("_", "").lower())
                if name is None:
                    raise Refused(f"unknown type {typ!r}")
                obj.setdefault(camel(name), {})
            yield map_event(obj)
        except Refused as e:
            yield Refused(f"{path}: {e}")

def parse_date(s):
    """YYYY-MM-DD naming a real calendar day, or None."""
    try:
        return date.fromisoformat(s) if DATE_RE.fullmatch(s) else None
    except ValueError:
        return None

def local_date(ms):
    return date(1970, 1, 1) + timedelta(days=(ms + TZ_MS) // DAY_MS)

@dataclass
class Twinning:
    agency: str
    locality: str
    status: str = "active"  # active | ended
    signed_ms: int = 0
    m: Counter = field(default_factory=Counter)  # the MEASURES
    last_activity_ms: int = None

    def activity(self, ms):
        if self.last_activity_ms is None or ms > self.last_activity_ms:
            self.last_activity_ms = ms

@dataclass
class Pledge:
    agency: str
    pledge_id: str
    locality: str
    amount_vnd: int
    target_quantity: int
    due: date  # None when the pledge sets no due date: never overdue
    pledged_at_ms: int
    status: str = "open"  # open | complete | cancelled
    delivered_vnd: int = 0
    delivered_qty: int = 0
    deliveries: int = 0

    def settle(self):
        """Recomputes open/complete (completed_at is not compared, so not kept)."""
        if self.status == "cancelled":
            return
        if self.amount_vnd > 0 or self.target_quantity > 0:
            complete = ((self.amount_vnd <= 0 or self.delivered_vnd >= self.amount_vnd) and
                        (self.target_quantity <= 0 or self.delivered_qty >= self.target_quantity))
        else:
            complete = self.deliveries > 0
        self.status = "complete" if complete else "open"

    def deliver(self, amount, qty):
        self.delivered_vnd += amount
        self.delivered_qty += qty
        self.deliveries += 1
        self.settle()

@dataclass
class Parked:
    """A delivery or training that named a pledge not seen yet."""
    locality: str
    amount_vnd: int
    quantity: int
    applied: bool = False

NEVER = date.max
BEGINNING = date.min
LEVEL_OF_PREFIX = (("Xã ", "commune"), ("Phường ", "ward"), ("Thị trấn ", "township"),
                   ("Đặc khu ", "special_zone"))


class Geography:
    """Unit versions and lineage, read from the reference files alone."""

    def __init__(self):
        self.v = {}        # (code, from) -> dict(code, from, to, name, level, parent)
        self.succ, self.pred = {}, {}  # (code, from) -> [(code, from)]

    def versions(self, code):
        return sorted((k for k in self.v if k[0] == code), key=lambda k: k[1])

    def at(self, code, d):
        for k in self.versions(code):
            if self.v[k]["from"] <= d <= self.v[k]["to"]:
                return k
        return None

    def load_units(self, path):
        with open(path, encoding="utf-8-sig", newline="") as f:
            for r in csv.DictReader(f):
                fr = parse_date(r.get("valid_from") or "") or BEGINNING
                to = parse_date(r.get("valid_to") or "") or NEVER
                self.v[(r["code"], fr)] = {"code": r["code"], "from": fr, "to": to,
                                           "name": r["name"], "level": r["level"],
                                           "parent": r["parent_code"] or None}

    def load_lineage(self, paths, eff):
        eve = eff - timedelta(days=1)
        rows = []
        for path in paths:
            with open(path, encoding="utf-8-sig", newline="") as f:
                rows += list(csv.DictReader(f))
        ending, made = set(), {}
        for r in rows:
            old = self.at(r["old_code"] or r["old_district_code"], eve)
            ending.add(old)
            for c in (r["old_province_code"],):
                ending.add(self.at(c, eve))
            if r["old_code"]:
                ending.add(self.at(r["old_district_code"], eve))
            if r["note"] == "Giải thể":
                continue
            level = next(l for p, l in LEVEL_OF_PREFIX if r["new_name"].startswith(p))
            made[r["new_code"]] = (r["new_name"], level, r["new_province_code"])
            self.link(old, (r["new_code"], eff))
            prov_old = self.at(r["new_province_code"], eve)
            made.setdefault(("prov", r["new_province_code"]), self.v[prov_old]["name"])
            self.link(self.at(r["old_province_code"], eve), (r["new_province_code"], eff))
        for k in ending:
            self.v[k]["to"] = eve
        for code, val in made.items():
            if isinstance(code, tuple):
                self.v[(code[1], eff)] = {"code": code[1], "from": eff, "to": NEVER, "name": val,
                                          "level": "province", "parent": None}
            else:
                self.v[(code, eff)] = {"code": code, "from": eff, "to": NEVER, "name": val[0],
                                       "level": val[1], "parent": val[2]}

    def link(self, old, new):
        if new not in self.succ.setdefault(old, []):
            self.succ[old].append(new)
            self.pred.setdefault(new, []).append(old)

    def resolve(self, code, d):
        """('ok'|'mapped', version) or ('ambiguous'|'unknown', candidates)."""
        ks = self.versions(code)
        if not ks:
            return "unknown", []
        k = self.at(code, d)
        if k:
            return "ok", k
        ended = [k for k in ks if self.v[k]["to"] < d]
        start, nxt = (max(ended, key=lambda k: self.v[k]["to"]), self.succ) if ended else (
            min(ks, key=lambda k: self.v[k]["from"]), self.pred)
        found, todo, seen = [], [start], set()
        while todo:
            x = todo.pop(0)
            if x in seen:
                continue
            seen.add(x)
            if self.v[x]["from"] <= d <= self.v[x]["to"]:
                found.append(x)
            else:
                todo += nxt.get(x, [])
        if len(found) == 1:
            return "mapped", found[0]
        return ("ambiguous" if found else "unknown"), sorted(k[0] for k in found)

    def codes_of(self, k):
        """The unit's code, then its predecessors' codes, nearest first."""
        out, todo = [k[0]], list(self.pred.get(k, []))
        while todo:
            x = todo.pop(0)
            if x[0] not in out:
                out.append(x[0])
            todo += self.pred.get(x, [])
        return out

    def version_of(self, code, d):
        ks = self.versions(code)
        begun = [k for k in ks if k[1] <= d]
        return max(begun, key=lambda k: k[1]) if begun else (ks[0] if ks else None)

    def carry(self, k, d):
        """The unit version k became (or came from) on date d."""
        for _ in range(50):
            v = self.v[k]
            if v["from"] <= d <= v["to"]:
                break
            if d > v["to"]:
                nxt = sorted(self.succ.get(k, []))
            else:
                nxt = sorted(self.pred.get(k, []), key=lambda x: (x[0] != k[0], x[0]))
            if not nxt:
                break
            k = nxt[0]
        return k

    def formers(self, k):
        out, todo = set(), list(self.pred.get(k, []))
        while todo:
            x = todo.pop()
            if x not in out:
                out.add(x)
                todo += self.pred.get(x, [])
        return out

    def ancestor(self, code, d, level):
        k = self.at(code, d)
        for _ in range(5):
            if k is None or not self.v[k]["parent"]:
                return None
            k = self.at(self.v[k]["parent"], d)
            if k and self.v[k]["level"] == level:
                return k
        return None


class Oracle:
    def __init__(self, agencies, localities, now_ms, geo=None):
        self.agencies, self.localities, self.now_ms = agencies, localities, now_ms
        self.geo = geo
        self.dead_unknown = []  # unknown_locality dead letters, for a replay
        self.twinnings, self.pledges, self.parked = {}, {}, {}
        self.accepted_ids = {}  # lower-case event_id -> canonical content
        self.events = self.accepted = self.duplicates = self.refused = self.parked_applied = 0
        self.reasons = Counter()

    def process(self, ev):
        self.events += 1
        eid, canon = ev["event_id"].lower(), canonical(ev)
        if self.accepted_ids.get(eid) == canon:
            self.duplicates += 1
            return
        reason = self.check(ev, eid)
        if reason:
            self.reasons[reason] += 1
            if reason == "unknown_locality":
                self.dead_unknown.append(ev)
            return
        self.accepted_ids[eid] = canon
        self.accepted += 1
        self.apply(ev)

    def check(self, ev, eid):
        """The first failing check of the rules page's table, in the table's order."""
        body, b = ev["body"], ev["b"]
        if body is None:
            return "unknown_body"
        ag, loc, at = ev["agency_code"], ev["locality_code"], ev["occurred_at_ms"]
        spec = BODIES[body]
        pid = b.get("pledge_id", "")
        p = self.pledges.get((ag, pid)) if pid else None
        where = self.place(ev, p)
        t = where[1] if where[0] == "ok" else None
        active = t is not None and t.status == "active"
        due = b.get("due_date") or b.get("new_due_date")
        # the pledge's local date; a revision of a pledge not seen has none to compare with
        due_floor = local_date(at if body == "support_pledged" else p.pledged_at_ms) if (
            body == "support_pledged" or p is not None) else None
        rules = (
            ("missing_field", lambda: not (ev["event_id"] and ag and loc and at)
                or body in PLEDGE_ID_REQUIRED and not pid),
            ("bad_field", lambda: not UUID_RE.fullmatch(ev["event_id"]) or at < 946684800000
                or any(f.endswith("_date") and b[f] and parse_date(b[f]) is None for f in spec)
                or any(k in ENUMS and not 0 <= b[f] < len(ENUMS[k]) for f, k in spec.items())),
            ("future_event", lambda: at > self.now_ms + DAY_MS),
            ("bad_amount", lambda: any(k == "i64" and not 0 <= b[f] <= MAX_AMOUNT
                                       for f, k in spec.items())),
            ("due_before_pledge", lambda: body == "support_pledged" and due and due_floor
                and parse_date(due) < due_floor),
            ("conflicting_duplicate", lambda: eid in self.accepted_ids),
            ("unknown_agency", lambda: ag not in self.agencies),
            ("unknown_locality", lambda: where[0] == "unknown_locality"),
            ("locality_ambiguous", lambda: where[0] == "locality_ambiguous"),
            ("twinning_not_active", lambda: body not in ("twinning_signed", "feed_heartbeat")
                and not active),
            ("twinning_already_active", lambda: body == "twinning_signed" and active),
            ("duplicate_pledge", lambda: body == "support_pledged" and p is not None),
            ("pledge_locality_mismatch", lambda: body != "support_pledged" and p is not None
                and p.locality != t.locality),
            ("unknown_pledge", lambda: body in REVISING and p is None),
            ("pledge_cancelled", lambda: body in REVISING and p.status == "cancelled"),
            ("due_before_pledge", lambda: body == "pledge_revised" and due and due_floor
                and parse_date(due) < due_floor),
        )
        return next((reason for reason, failed in rules if failed()), None)

    def codes(self, ev):
        """Where the event's twinning may be filed, or the reason it cannot be placed."""
        loc = ev["locality_code"]
        if self.geo is None:
            return ("ok", [loc]) if loc in self.localities else ("unknown_locality", None)
        status, k = self.geo.resolve(loc, local_date(ev["occurred_at_ms"]))
        if status == "unknown":
            return "unknown_locality", None
        if status == "ambiguous":
            return "locality_ambiguous", None
        return "ok", self.geo.codes_of(k)

    def place(self, ev, p):
        """("ok", twinning or None, codes) or (reason, None, None)."""
        status, codes = self.codes(ev)
        if status != "ok":
            return status, None, None
        ag = ev["agency_code"]
        if p is not None and ev["body"] != "support_pledged" and p.locality in codes:
            return "ok", self.twinnings.get((ag, p.locality)), codes
        own = self.twinnings.get((ag, ev["locality_code"]))
        if ev["locality_code"] in codes and own is not None and own.status == "active":
            return "ok", own, codes
        found = [self.twinnings[(ag, c)] for c in codes if (ag, c) in self.twinnings]
        active = [t for t in found if t.status == "active"]
        return "ok", (active or found or [None])[0], codes

    def deliver_or_park(self, ev, amount, qty, t):
        pid = ev["b"]["pledge_id"]
        if not pid:
            return  # standalone
        key = (ev["agency_code"], pid)
        if key in self.pledges:
            self.pledges[key].deliver(amount, qty)
        else:
            self.parked.setdefault(key, []).append(Parked(t.locality, amount, qty))

    def apply(self, ev):
        body, b = ev["body"], ev["b"]
        ag, at = ev["agency_code"], ev["occurred_at_ms"]
        pid = b.get("pledge_id", "")
        _, t, codes = self.place(ev, self.pledges.get((ag, pid)) if pid else None)
        if body == "feed_heartbeat":
            return  # source last_seen_at only; not in the compared views
        if body == "twinning_signed":
            if t is None:
                t = self.twinnings[(ag, codes[0])] = Twinning(ag, codes[0])
                t.signed_ms = at
            t.signed_ms = at
            t.status = "active"  # a new term after an end keeps the counters
            t.activity(at)
        elif body == "twinning_ended":
            t.status = "ended"
        elif body == "visit":
            t.m.update(visits=1, gift_value_vnd=b["gift_value_vnd"], formal_activities=1)
            t.activity(at)
        elif body == "support_pledged":
            key = (ag, b["pledge_id"])
            p = self.pledges[key] = Pledge(ag, b["pledge_id"], t.locality, b["amount_vnd"],
                                           b["target_quantity"], parse_date(b["due_date"]), at)
            for k in self.parked.get(key, []):  # in arrival order
                if not k.applied and k.locality == t.locality:  # other localities stay parked
                    p.deliver(k.amount_vnd, k.quantity)
                    k.applied = True
                    self.parked_applied += 1
            t.activity(at)
        elif body == "support_delivered":
            cat, qty = b["category"], b["quantity"]
            t.m.update(delivered_vnd=b["amount_vnd"],
                       jobs=qty if cat == CAT["JOB_CREATION"] else 0,
                       models_replicated=qty if cat == CAT["MODEL_REPLICATION"] else 0)
            t.m["substantive_activities" if cat in SUBSTANTIVE else "formal_activities"] += 1
            t.activity(at)
            self.deliver_or_park(ev, b["amount_vnd"], qty, t)
        elif body == "training_delivered":
            t.m.update(trainees=b["trainees"], substantive_activities=1)
            t.activity(at)
            self.deliver_or_park(ev, 0, b["trainees"], t)
        elif body == "pledge_revised":  # each value it sets replaces the pledge's
            p = self.pledges[(ag, b["pledge_id"])]
            p.due = parse_date(b["new_due_date"]) if b["new_due_date"] else p.due
            p.amount_vnd = b["new_amount_vnd"] or p.amount_vnd
            p.target_quantity = b["new_target_quantity"] or p.target_quantity
            p.settle()
        elif body == "pledge_cancelled":
            self.pledges[(ag, b["pledge_id"])].status = "cancelled"

    # ---- outputs ----

    def measures(self, pred):
        """Twinning and pledge measures over the twinnings/pledges pred(agency, locality) picks."""
        ts = [t for t in self.twinnings.values() if pred(t.agency, t.locality)]
        ps = [p for p in self.pledges.values() if pred(p.agency, p.locality)]
        live = [p for p in ps if p.status != "cancelled"]
        today = local_date(self.now_ms)
        last = [t.last_activity_ms for t in ts if t.last_activity_ms is not None]
        m = sum((t.m for t in ts), Counter())
        return {"twinnings_active": sum(t.status == "active" for t in ts),
                "pledges_open": sum(p.status == "open" for p in ps),
                "pledges_fulfilled": sum(p.status == "complete" for p in ps),
                "pledges_cancelled": sum(p.status == "cancelled" for p in ps),
                "pledges_overdue": sum(p.status == "open" and p.due is not None and p.due < today
                                       for p in ps),
                "pledged_vnd": sum(p.amount_vnd for p in live),
                "fulfilment_pct": pct(sum(min(p.delivered_vnd, p.amount_vnd) for p in live),
                                      sum(p.amount_vnd for p in live)),
                **{k: m[k] for k in MEASURES}, "last_activity_ms": max(last) if last else ""}

    def locality_rows(self):
        if self.geo is not None:  # today's geography: one row per unit in force
            return [[r[c] for c in COLUMNS] for r in self.geo_dicts(local_date(self.now_ms))]
        rows = []
        for loc in sorted({t.locality for t in self.twinnings.values()}):
            row = {"locality_code": loc, **self.measures(lambda a, l: l == loc)}
            rows.append([row[c] for c in COLUMNS])
        return rows

    GEO_COLUMNS = ("locality_code locality_name district_code province_code former_district_code "
                   "former_codes twinnings twinnings_active pledges_open pledges_fulfilled "
                   "pledged_vnd delivered_vnd fulfilment_pct visits substantive_activities "
                   "formal_activities").split()

    def unit_of(self, t, d):
        g = self.geo
        return g.carry(g.version_of(t.locality, local_date(t.signed_ms)), d)

    def geo_rows(self, d):
        return [[r[c] for c in self.GEO_COLUMNS] for r in self.geo_dicts(d)]

    def geo_dicts(self, d):
        """locality_overview_at(d): one row per unit in force on d with a twinning."""
        g, units = self.geo, {}
        for t in self.twinnings.values():
            units.setdefault(self.unit_of(t, d), set()).add((t.agency, t.locality))
        rows = []
        for k in sorted(units):
            keys, v = units[k], g.v[k]
            m = self.measures(lambda a, l: (a, l) in keys)
            ts = [self.twinnings[x] for x in keys]
            dist = None if v["level"] == "district" else g.ancestor(k[0], d, "district")
            dist_code = k[0] if v["level"] == "district" else (dist[0] if dist else "")
            prov = g.ancestor(k[0], d, "province")
            formers = g.formers(k)
            fd = ""
            if not dist_code:
                cands = sorted(formers, key=lambda x: (x[0] != k[0], x[0]))
                for f in cands:
                    a = g.ancestor(f[0], g.v[f]["to"], "district")
                    if a:
                        fd = a[0]
                        break
            shown = sorted(f for f in formers if (f[0], g.v[f]["name"]) != (k[0], v["name"]))
            row = {"locality_code": k[0], "locality_name": v["name"], "district_code": dist_code,
                   "province_code": prov[0] if prov else "",
                   "former_district_code": dist_code or fd,
                   "former_codes": " ".join(f[0] for f in shown),
                   "twinnings": len({t.agency for t in ts}),
                   **m, "twinnings_active": len({t.agency for t in ts if t.status == "active"})}
            rows.append(row)
        return rows

    def summary(self):
        agencies = {}
        for ag in sorted({t.agency for t in self.twinnings.values()}):
            m = self.measures(lambda a, l: a == ag)
            agencies[ag] = {k: m[k] for k in ("pledged_vnd", "delivered_vnd", "visits",
                                              "substantive_activities", "formal_activities")}
        parked = [k for ks in self.parked.values() for k in ks]
        return {"events": self.events, "accepted": self.accepted, "duplicates": self.duplicates,
                "dead_letters": sum(self.reasons.values()),
                "dead_letter_reasons": dict(sorted(self.reasons.items())),
                "refused_at_publish": self.refused, "parked_applied": self.parked_applied,
                "parked_open": sum(not k.applied for k in parked), "agencies": agencies}

def pct(part, whole):
    """round(100 * part / whole, 1), half away from zero, exact in integers; '' if whole = 0."""
    if whole == 0:
        return ""
    tenths = (2000 * part + whole) // (2 * whole)  # floor(1000 * part / whole + 1/2)
    return f"{tenths // 10}.{tenths % 10}"

def read_codes(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return {r["code"].strip() for r in csv.DictReader(f) if (r.get("code") or "").strip()}

class FeedAction(argparse.Action):
    """Keeps --jsonl-feed and --csv-feed in one list, in command-line order."""

    def __call__(self, parser, ns, value, option_string=None):
        ns.feeds = (ns.feeds or []) + [("csv" if "csv" in option_string else "jsonl", value)]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ("--agencies", "--localities", "--out-localities", "--out-summary"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--now-ms", type=int, required=True)
    for opt in ("--jsonl-feed", "--csv-feed"):
        ap.add_argument(opt, dest="feeds", action=FeedAction, default=[])
    ap.add_argument("--units", help="unit versions (localities format, valid_from/valid_to)")
    ap.add_argument("--lineage", action="append", default=[],
                    help="a conversion table (repeatable), loaded with --effective")
    ap.add_argument("--effective", type=date.fromisoformat)
    ap.add_argument("--lineage-after", type=int, default=0,
                    help="load the lineage after this many feeds, then replay unknown_locality")
    ap.add_argument("--geo-date", action="append", default=[], type=date.fromisoformat)
    ap.add_argument("--out-geo", help="PREFIX: writes PREFIX-today.csv and PREFIX-DATE.csv")
    ap.add_argument("--partitions", type=int, default=6,
                    help="accepted for symmetry with the system; the oracle uses global order")
    args = ap.parse_args(argv)

    geo = None
    if args.units:
        geo = Geography()
        geo.load_units(args.units)
    oracle = Oracle(read_codes(args.agencies), read_codes(args.localities), args.now_ms, geo)

    def load_lineage():
        geo.load_lineage(args.lineage, args.effective)
        replay, oracle.dead_unknown = oracle.dead_unknown, []
        for ev in replay:  # a replayed dead letter is a new event: it counts again
            oracle.reasons["unknown_locality"] -= 1
            oracle.events -= 1
            oracle.process(ev)

    for i, (kind, path) in enumerate(args.feeds):
        if geo and args.lineage and i == args.lineage_after:
            load_lineage()
        for ev in (read_csv(path) if kind == "csv" else read_jsonl(path)):
            if isinstance(ev, Refused):
                oracle.refused += 1
                print(f"oracle: refused at publish: {ev}", file=sys.stderr)
            else:
                oracle.process(ev)
    if geo and args.lineage and args.lineage_after >= len(args.feeds):
        load_lineage()
    if args.out_geo:
        for name, d in [("today", local_date(args.now_ms))] + [(str(d), d) for d in args.geo_date]:
            with open(f"{args.out_geo}-{name}.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(Oracle.GEO_COLUMNS)
                w.writerows(oracle.geo_rows(d))
    with open(args.out_localities, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(oracle.locality_rows())
    with open(args.out_summary, "w", encoding="utf-8") as f:
        json.dump(oracle.summary(), f, indent=2, ensure_ascii=False)
        f.write("\n")
    return 0

if __name__ == "__main__":
    sys.exit(main())
