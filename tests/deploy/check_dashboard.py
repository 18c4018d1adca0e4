#!/usr/bin/python3
"""check_dashboard.py DASHBOARD [--service projector|sentinel|gateway SCRAPE]...

Checks ops/grafana/twinwatch.json, the Grafana dashboard, so that a panel
cannot quietly go blank. tests/integration/metrics.sh and
sentinel_metrics.sh run it on the GET /metrics they just scraped from the
real service; with no --service it checks the dashboard's structure alone.

Structure (always), each a line "FAIL: ..." when broken:
- a dashboard: title, uid, schemaVersion, panels; a data source variable
  DS_PROMETHEUS (type datasource, Prometheus) that every panel, target and
  query variable uses, so that importing it asks for no hard-wired uid;
- panel ids unique (rows and the panels inside collapsed rows included);
  every panel has a gridPos inside the 24-column grid, overlapping none;
  every panel but a row has a datasource and at least one target with a
  refId and an expr;
- every twinwatch_ metric named in an expr is twinwatch_projector_*,
  twinwatch_sentinel_* or twinwatch_gateway_*, so that one of the scrapes
  covers it (tests/integration/gateway.sh scrapes the gateway).

Against a service's scrape (--service NAME SCRAPE, the exposition text; a
leading HTTP status line is ignored), for the metrics with that service's
prefix, in every panel target and query variable:
- each name is a sample name in the scrape: a counter's _total as it is
  exported, a histogram only as _bucket, _sum or _count (the bare name has
  no samples), so a renamed or removed metric fails here;
- each label matched in a selector (job and instance, which Prometheus
  adds, aside) is a label of that metric, and a value matched with = is one
  the scrape shows;
- each label in by (...)/without (...) and in a legend's {{label}} is a
  label of a metric of the expression (or job, instance).
The scrape must come after the service has done its work (assigned
partitions, raised alerts): series that appear only then are checked only
then.

Exit 0 when all holds, 1 with every failure listed, 2 on bad usage.
"""
import difflib
import json
import re
import sys

PREFIXES = {"projector": "twinwatch_projector_", "sentinel": "twinwatch_sentinel_",
            "gateway": "twinwatch_gateway_"}
NAME = re.compile(r"\btwinwatch_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(twinwatch_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+(\s+\S+)?$")
ADDED_BY_PROMETHEUS = {"job", "instance"}
DS_VAR = "DS_PROMETHEUS"

failures = []


def fail(msg):
    if msg not in failures:  # two targets of a panel can break alike
        failures.append(msg)


def walk_panels(panels):
    """Every panel, rows first, then the panels a collapsed row holds."""
    for p in panels:
        yield p
        if p.get("type") == "row":
            yield from walk_panels(p.get("panels") or [])


def templated(ds, where):
    """A data source reference must be the DS_PROMETHEUS variable."""
    uid = ds.get("uid") if isinstance(ds, dict) else ds
    if uid not in ("${%s}" % DS_VAR, "$" + DS_VAR):
        fail(f"{where}: datasource {json.dumps(ds)} is not ${{{DS_VAR}}}")
    elif isinstance(ds, dict) and ds.get("type") not in (None, "prometheus"):
        fail(f"{where}: datasource type {ds.get('type')!r}, not prometheus")


def check_structure(d):
    """The dashboard's shape; returns [(where, expr, legend)] to check against scrapes."""
    exprs = []
    for key in ("title", "uid", "schemaVersion", "panels"):
        if key not in d:
            fail(f"dashboard: no {key!r} (not a dashboard JSON?)")
    if not isinstance(d.get("schemaVersion"), int) or d.get("schemaVersion", 0) < 36:
        fail(f"dashboard: schemaVersion {d.get('schemaVersion')!r}; Grafana 10+ writes 36 or more")
    variables = (d.get("templating") or {}).get("list") or []
    ds_vars = [v for v in variables if v.get("name") == DS_VAR]
    if not ds_vars or ds_vars[0].get("type") != "datasource" or ds_vars[0].get("query") != "prometheus":
        fail(f"dashboard: no variable {DS_VAR} of type datasource over prometheus")
    for v in variables:
        if v.get("type") != "query":
            continue
        where = f"variable {v.get('name')!r}"
        templated(v.get("datasource"), where)
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not q:
            fail(f"{where}: no query")
        else:
            exprs.append((where, q, ""))

    ids = {}
    boxes = []
    for p in walk_panels(d.get("panels") or []):
        title = p.get("title") or ""
        pid = p.get("id")
        where = f"panel {title!r} (id {pid})"
        if not isinstance(pid, int):
            fail(f"{where}: id is not an integer")
        elif pid in ids:
            fail(f"{where}: id {pid} also used by panel {ids[pid]!r}")
        else:
            ids[pid] = title
        if not title:
            fail(f"{where}: no title")
        g = p.get("gridPos")
        if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in "hwxy"):
            fail(f"{where}: gridPos missing or not integer h, w, x, y: {g!r}")
        elif g["w"] <= 0 or g["h"] <= 0 or g["x"] < 0 or g["y"] < 0 or g["x"] + g["w"] > 24:
            fail(f"{where}: gridPos {g} outside the 24-column grid")
        else:
            for other, og in boxes:
                if (g["x"] < og["x"] + og["w"] and og["x"] < g["x"] + g["w"]
                        and g["y"] < og["y"] + og["h"] and og["y"] < g["y"] + g["h"]):
                    fail(f"{where}: gridPos {g} overlaps {other} {og}")
            boxes.append((where, g))
        if p.get("type") == "row":
            continue
        if not p.get("type"):
            fail(f"{where}: no type")
        if "datasource" not in p:
            fail(f"{where}: no datasource")
        else:
            templated(p["datasource"], where)
        targets = p.get("targets") or []
        if not targets:
            fail(f"{where}: no target")
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if not ref or ref in refs:
                fail(f"{where}: target refId {ref!r} missing or repeated")
            refs.add(ref)
            if "datasource" in t:
                templated(t["datasource"], f"{where} target {ref}")
            if not (t.get("expr") or "").strip():
                fail(f"{where} target {ref}: no expr")
                continue
            exprs.append((where, t["expr"], t.get("legendFormat") or ""))

    for where, expr, _ in exprs:
        for name in NAME.findall(expr):
            if not name.startswith(tuple(PREFIXES.values())):
                fail(f"{where}: {name} has neither prefix {' nor '.join(PREFIXES.values())}, "
                     "so no service's test checks it")
    return exprs, len(ids)


def family(name):
    """A histogram's samples by their family name; other names as they are."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def parse_scrape(path):
    """{sample name: {label: {values}}} from Prometheus exposition text."""
    series = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and re.fullmatch(r"\d{3}", lines[0].strip()):
        lines = lines[1:]  # http_get's status line
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(f"{path}: not a sample line: {line!r}")
            continue
        labels = series.setdefault(m.group(1), {})
        for k, _, v in MATCHER.findall(m.group(3) or ""):
            labels.setdefault(k, set()).add(v)
    return series


def check_scrape(exprs, service, path):
    prefix = PREFIXES[service]
    series = parse_scrape(path)
    exported = sorted(n for n in series if n.startswith(prefix))
    if not exported:
        fail(f"{path}: no {prefix}* sample at all: is this the {service}'s /metrics?")
        return 0
    used = set()
    for where, expr, legend in exprs:
        names = [n for n in NAME.findall(expr) if n.startswith(prefix)]
        if not names:
            continue
        labels_here = set(ADDED_BY_PROMETHEUS)
        known = True
        for name in names:
            used.add(name)
            if name in series:
                labels_here |= set(series[name])
                continue
            known = False
            hint = ""
            if name + "_bucket" in series:
                hint = " (a histogram: use _bucket, _sum or _count)"
            else:
                close = difflib.get_close_matches(name, exported, n=1)
                if close:
                    hint = f" (did you mean {close[0]}?)"
            fail(f"{where}: {name} is not in the {service}'s /metrics{hint}")
        for name, body in SELECTOR.findall(expr):
            if not name.startswith(prefix) or name not in series:
                continue
            for label, op, value in MATCHER.findall(body):
                if label in ADDED_BY_PROMETHEUS:
                    continue
                if label not in series[name]:
                    fail(f"{where}: {name} has no label {label!r} "
                         f"(it has: {', '.join(sorted(series[name])) or 'none'})")
                elif op == "=" and "$" not in value and value not in series[name][label]:
                    fail(f"{where}: {name}{{{label}={value!r}}} matches nothing; the "
                         f"{service} shows {label} = {', '.join(sorted(series[name][label]))}")
        if not known:
            continue  # the missing name's labels are unknown: reported already
        for group in GROUPING.findall(expr):
            for label in (s.strip() for s in group.split(",")):
                if label and label not in labels_here:
                    fail(f"{where}: by/without ({label}): no metric of {expr!r} has that label")
        for label in LEGEND.findall(legend):
            if label not in labels_here:
                fail(f"{where}: legend {{{{{label}}}}}: no metric of the expression has that label")
    shown = {family(n) for n in used}
    unused = sorted({family(n) for n in exported} - shown)
    if unused:
        print(f"note: the {service} exports, and the dashboard does not show: {', '.join(unused)}")
    return len(used)


def main(argv):
    args = argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    path, rest = args[0], args[1:]
    scrapes = []
    while rest:
        if rest[0] != "--service" or len(rest) < 3 or rest[1] not in PREFIXES:
            print(f"usage: check_dashboard.py DASHBOARD [--service {'|'.join(PREFIXES)} SCRAPE]...",
                  file=sys.stderr)
            return 2
        scrapes.append((rest[1], rest[2]))
        rest = rest[3:]
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAIL: {path}: {e}", file=sys.stderr)
        return 1
    if not isinstance(d, dict):
        print(f"FAIL: {path}: not a JSON object", file=sys.stderr)
        return 1
    exprs, npanels = check_structure(d)
    checked = [f"{check_scrape(exprs, s, f)} {s} metrics against its /metrics" for s, f in scrapes]
    if failures:
        for msg in failures:
            print(f"FAIL: {path}: {msg}", file=sys.stderr)
        return 1
    print(f"dashboard {path}: {npanels} panels, {len(exprs)} queries"
          + "".join(f", {c}" for c in checked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
