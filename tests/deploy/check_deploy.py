#!/usr/bin/python3
"""check_deploy.py ROOT BUILD COMPOSE_CONFIG_YAML: checks the deployment files
against the project itself (tests/deploy/compose.sh runs it, ctest
deploy.compose). COMPOSE_CONFIG_YAML is `docker-compose config` of
docker-compose.yml, i.e. after interpolation and merging of anchors.

What it checks, each a line "FAIL: ..." when broken:
- the compose stack: the services it must have, an image or a build whose
  Dockerfile exists, a restart policy, health checks on long-running
  services, bind mounts that exist in the repository, named volumes
  declared (and every declared one used), host ports unique, KRaft Kafka;
- every twinwatch service's environment and mounted config file, loaded by
  the real binary (`--config F --print-config`, exit 0), so an unknown key or
  TWINWATCH_* variable fails (TWINWATCH_KAFKA_<PROPERTY> must be a property
  librdkafka takes); twinctl's environment the same way; each connects as its own database role; two
  projectors in one group.id; the topics the services use are the ones the
  init job creates; health checks hit the services' HTTP ports;
- the Dockerfile: every COPY source exists, the build stage has the build
  packages of ops/lib.sh, the runtime stage the package of every library the
  binaries need (readelf NEEDED), every package exists in Debian's index,
  a non-root USER, schemas where the migrate job looks for them;
- ops/config/*.conf: each loads in its binary, and every kafka.* key is a
  property librdkafka knows (python3-confluent-kafka, Debian's librdkafka).
"""
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT, BUILD, CONFIG = sys.argv[1], sys.argv[2], sys.argv[3]
BIN = os.path.join(BUILD, "bin")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


with open(CONFIG) as f:
    compose = yaml.safe_load(f)
services = compose.get("services") or {}

# ------------------------------------------------------------ the stack

JOBS = {"kafka-init", "migrate", "roles"}
REQUIRED = {"kafka", "kafka-init", "postgres", "migrate", "roles", "projector-1", "projector-2",
            "sentinel", "gateway"}
missing = REQUIRED - set(services)
if missing:
    fail("docker-compose.yml lacks services %s" % sorted(missing))

declared_volumes = set((compose.get("volumes") or {}).keys())
used_volumes = set()
host_ports = {}
for name, s in services.items():
    image, build = s.get("image"), s.get("build")
    if not image and not build:
        fail("%s: neither image nor build" % name)
    if image and not build and (":" not in image or image.endswith(":latest")):
        fail("%s: image %s has no pinned tag" % (name, image))
    if build:
        ctx = build["context"] if isinstance(build, dict) else build
        df = os.path.join(ctx, build.get("dockerfile", "Dockerfile") if isinstance(build, dict)
                          else "Dockerfile")
        if os.path.realpath(ctx) != os.path.realpath(ROOT):
            fail("%s: build context %s is not the repository's root" % (name, ctx))
        if not os.path.isfile(df):
            fail("%s: Dockerfile %s does not exist" % (name, df))
    if not s.get("restart"):
        fail("%s: no restart policy" % name)
    if name in JOBS:
        if not str(s.get("restart", "")).startswith("on-failure"):
            fail("%s: a one-shot job should restart on-failure, not %s" % (name, s.get("restart")))
    else:
        hc = (s.get("healthcheck") or {}).get("test")
        if not hc or hc == ["NONE"]:
            fail("%s: no healthcheck" % name)
    for v in s.get("volumes") or []:
        src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
        vtype = v.get("type") if isinstance(v, dict) else ("bind" if src.startswith("/") else "volume")
        if vtype == "bind":
            if not os.path.exists(src):
                fail("%s: mounts %s, which does not exist" % (name, src))
            elif not os.path.realpath(src).startswith(os.path.realpath(ROOT) + os.sep):
                fail("%s: mounts %s, outside the repository" % (name, src))
        else:
            used_volumes.add(src)
            if src not in declared_volumes:
                fail("%s: named volume %s is not declared under volumes:" % (name, src))
    for p in s.get("ports") or []:
        if isinstance(p, dict):
            key = (p.get("host_ip", ""), str(p.get("published")))
        else:
            parts = str(p).split("/")[0].split(":")
            key = (parts[0] if len(parts) == 3 else "", parts[-2] if len(parts) > 1 else parts[0])
        if key[1] in {h[1] for h in host_ports}:
            fail("%s: host port %s is also published by %s" % (name, key[1],
                 [host_ports[h] for h in host_ports if h[1] == key[1]]))
        host_ports[key] = name
    for dep, cond in (s.get("depends_on") or {}).items():
        if dep not in services:
            fail("%s: depends on unknown service %s" % (name, dep))
for v in declared_volumes - used_volumes:
    fail("volume %s is declared but no service uses it" % v)
for v in ("kafka-data", "pg-data"):
    if v not in declared_volumes:
        fail("named volume %s is missing" % v)


def dep_cond(svc, dep):
    return ((services.get(svc, {}).get("depends_on") or {}).get(dep) or {}).get("condition")


for svc, dep, cond in [("kafka-init", "kafka", "service_healthy"),
                       ("migrate", "postgres", "service_healthy"),
                       ("roles", "migrate", "service_completed_successfully"),
                       ("projector-1", "roles", "service_completed_successfully"),
                       ("projector-1", "kafka-init", "service_completed_successfully"),
                       ("projector-2", "roles", "service_completed_successfully"),
                       ("sentinel", "roles", "service_completed_successfully"),
                       ("sentinel", "kafka-init", "service_completed_successfully")]:
    if dep_cond(svc, dep) != cond:
        fail("%s must wait for %s (%s), has %s" % (svc, dep, cond, dep_cond(svc, dep)))

kafka_env = (services.get("kafka") or {}).get("environment") or {}
if "controller" not in str(kafka_env.get("KAFKA_PROCESS_ROLES", "")) or any(
        "ZOOKEEPER" in k for k in kafka_env):
    fail("kafka: not in KRaft mode (KAFKA_PROCESS_ROLES broker,controller, no ZooKeeper)")
if not str((services.get("kafka") or {}).get("image", "")).startswith("apache/kafka:"):
    fail("kafka: not the official apache/kafka image")
if not str((services.get("postgres") or {}).get("image", "")).startswith("postgres:16"):
    fail("postgres: not PostgreSQL 16")
ok("compose: %d services, volumes %s, host ports %s" % (
    len(services), sorted(declared_volumes), sorted(h[1] for h in host_ports)))

# Topics the init job creates (its script, mounted from the repository).
topics_created = {}
init = services.get("kafka-init") or {}
for v in init.get("volumes") or []:
    src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
    if src.endswith(".sh") and os.path.isfile(src):
        for m in re.finditer(r"^create (\S+) (\S+)", open(src).read(), re.M):
            topics_created[m.group(1)] = m.group(2)
design = open(os.path.join(ROOT, "services", "devbroker", "main.c")).read()
for t in ("twinwatch.events.v1", "twinwatch.alerts.v1", "twinwatch.audit-anchors.v1"):
    if t not in topics_created:
        fail("kafka-init does not create topic %s" % t)
    if '"%s:' % t not in design:
        fail("topic %s is not the devbroker's default (DESIGN.md's names)" % t)
ok("kafka-init creates %s" % topics_created)

# ------------------------------------------------- the twinwatch services


def container_to_repo(svc, path):
    """The repository file a bind mount puts at PATH in SVC's container."""
    for v in svc.get("volumes") or []:
        if isinstance(v, dict) and v.get("target") == path:
            return v["source"]
        if isinstance(v, str) and v.split(":")[1] == path:
            return v.split(":")[0]
    return None


def effective(binary, conf, env):
    """Runs BINARY --config CONF --print-config with ENV only; returns
    (exit code, dict of the effective settings, stderr)."""
    args = [os.path.join(BIN, binary)]
    if conf:
        args += ["--config", conf]
    e = {"PATH": "/usr/bin:/bin", "TWINWATCH_ENV": "/nonexistent"}
    e.update({k: str(v) for k, v in env.items()})
    p = subprocess.run(args + ["--print-config"], env=e, capture_output=True, text=True,
                       cwd="/")
    vals = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" = ")
        vals[k] = v
    return p.returncode, vals, p.stderr.strip()


def env_names(binary):
    out = subprocess.run([os.path.join(BIN, binary), "--help"], capture_output=True,
                         text=True).stdout
    return set(re.findall(r"env (TWINWATCH_[A-Z0-9_]+)\)", out))


def conninfo_user(ci):
    m = re.search(r"(?:^|\s)user=(\S+)", ci or "")
    return m.group(1) if m else None


LIBPQ_ENV = {"PGPASSWORD", "PGPASSFILE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY",
             "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGAPPNAME", "PGCONNECT_TIMEOUT"}
HTTP_PORT = {"projector": 9464, "sentinel": 9465, "gateway": 9466}
# the setting that holds the /healthz port (the gateway's http.port is its API)
HEALTH_KEY = {"gateway": "metrics.port"}
groups = {}
for name, s in sorted(services.items()):
    cmd = s.get("command")
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    if not s.get("build") or not cmd:
        continue
    binary = cmd[0]
    if not os.path.isfile(os.path.join(BIN, binary)):
        fail("%s: runs %s, which the build does not make" % (name, binary))
        continue
    env = s.get("environment") or {}
    for k in env:
        if not k.startswith("TWINWATCH_") and k not in LIBPQ_ENV:
            fail("%s: sets %s, which neither twinwatch nor libpq reads" % (name, k))
    known = env_names(binary)
    # TWINWATCH_KAFKA_<PROPERTY> sets kafka.<property> (librdkafka checks it
    # under --print-config below); any other variable must be a key's
    for k in env:
        if k.startswith("TWINWATCH_") and k not in known and not k.startswith("TWINWATCH_KAFKA_"):
            fail("%s: %s is not a setting of %s (see %s --help)" % (name, k, binary, binary))
    if binary == "twinctl":
        # its settings come before the command: twinctl [--config F] COMMAND
        rc, vals, err = effective(binary, None, env)
        if rc != 0:
            fail("%s: twinctl --print-config with its environment: exit %d: %s" % (name, rc, err))
        if cmd[1:2] == ["migrate"]:
            d = cmd[cmd.index("--dir") + 1] if "--dir" in cmd else None
            if not d:
                fail("%s: twinctl migrate without --dir would look in the build tree" % name)
            migrate_dir = d
        if conninfo_user(env.get("TWINWATCH_PG_CONNINFO")) != "twinwatch":
            fail("%s: migrations run as the owner twinwatch, not %s" % (
                name, conninfo_user(env.get("TWINWATCH_PG_CONNINFO"))))
        continue
    conf = None
    if "--config" in cmd:
        target = cmd[cmd.index("--config") + 1]
        conf = container_to_repo(s, target)
        if not conf:
            fail("%s: --config %s is not mounted from the repository" % (name, target))
    rc, vals, err = effective(binary, conf, env)
    if rc != 0:
        fail("%s: %s --config %s --print-config with its environment: exit %d: %s" % (
            name, binary, conf, rc, err))
        continue
    user = conninfo_user(vals.get("pg.conninfo"))
    if user != "twinwatch_" + binary:
        fail("%s: connects as %s, not its own role twinwatch_%s" % (name, user, binary))
    if "password=" in vals.get("pg.conninfo", ""):
        fail("%s: a password in pg.conninfo (--print-config would show it)" % name)
    if not env.get("PGPASSWORD", "").strip() and not env.get("PGPASSFILE"):
        fail("%s: no PGPASSWORD/PGPASSFILE for role %s" % (name, user))
    if vals.get("kafka.brokers") != "kafka:9092":
        fail("%s: kafka.brokers %s is not the compose broker kafka:9092" % (
            name, vals.get("kafka.brokers")))
    if vals.get("topic") not in topics_created:
        fail("%s: uses topic %s, which kafka-init does not create" % (name, vals.get("topic")))
    hkey = HEALTH_KEY.get(binary, "http.port")
    if vals.get(hkey) != str(HTTP_PORT[binary]):
        fail("%s: %s is %s, not %d: /healthz would not answer its health check" % (
            name, hkey, vals.get(hkey), HTTP_PORT[binary]))
    hc = " ".join(str(x) for x in (s.get("healthcheck") or {}).get("test") or [])
    if "localhost:%d/healthz" % HTTP_PORT[binary] not in hc:
        fail("%s: healthcheck does not GET localhost:%d/healthz: %s" % (
            name, HTTP_PORT[binary], hc))
    if binary == "projector":
        groups.setdefault(vals.get("group.id"), []).append(name)
    ok("%s: %s runs as %s, topic %s, group %s" % (name, binary, user, vals.get("topic"),
                                                  vals.get("group.id", "-")))
projectors = sum(len(v) for v in groups.values())
if projectors != 2 or len(groups) != 1:
    fail("expected 2 projectors in one consumer group, have %s" % groups)
else:
    ok("projectors %s share group.id %s" % (list(groups.values())[0], list(groups)[0]))

# ------------------------------------------------------------ Dockerfile

dockerfiles = {os.path.join(s["build"]["context"], s["build"].get("dockerfile", "Dockerfile"))
               for s in services.values() if isinstance(s.get("build"), dict)}
if len(dockerfiles) != 1:
    fail("expected one Dockerfile for every twinwatch service, have %s" % sorted(dockerfiles))


def lib_packages():
    """TW_PACKAGES of ops/lib.sh."""
    src = open(os.path.join(ROOT, "ops", "lib.sh")).read()
    m = re.search(r'TW_PACKAGES="([^"]*)"', src)
    return m.group(1).split() if m else []


def needed_packages():
    """Debian packages of the libraries the three binaries link directly."""
    pkgs = {}
    for b in ("projector", "sentinel", "twinctl", "gateway"):
        out = subprocess.run(["readelf", "-d", os.path.join(BIN, b)], capture_output=True,
                             text=True).stdout
        for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out):
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib):
                continue  # an ops/test --asan build; the image builds without
            path = subprocess.run(["sh", "-c", "ldd %s | awk '$1 == \"%s\" {print $3}'" % (
                shlex.quote(os.path.join(BIN, b)), lib)], capture_output=True, text=True
            ).stdout.strip()
            r = subprocess.run(["dpkg", "-S", os.path.realpath(path) if path else lib],
                               capture_output=True, text=True)
            if r.returncode != 0 and path:
                r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            pkg = r.stdout.split(":")[0] if r.returncode == 0 else None
            pkgs[lib] = pkg
    return pkgs


for df in dockerfiles:
    if not os.path.isfile(df):
        continue
    text = open(df).read().replace("\\\n", " ")
    stages, cur = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            cur = {"from": rest.split()[0], "install": [], "copy": [], "user": None,
                   "run": []}
            stages.append(cur)
        elif cur is None:
            continue
        elif word == "RUN":
            cur["run"].append(rest)
            for m in re.finditer(r"apt-get install ((?:\s*-\S+)*)([^&;|]*)", rest):
                cur["install"] += [p for p in m.group(2).split() if not p.startswith("-")]
        elif word == "COPY":
            args = shlex.split(rest)
            opts = [a for a in args if a.startswith("--")]
            paths = [a for a in args if not a.startswith("--")]
            cur["copy"].append((opts, paths[:-1], paths[-1]))
        elif word == "USER":
            cur["user"] = rest.strip()
    rel = os.path.relpath(df, ROOT)
    if len(stages) < 2:
        fail("%s: not multi-stage (%d FROM)" % (rel, len(stages)))
        continue
    for st in stages:
        if not re.match(r"debian:(12|bookworm)", st["from"]):
            fail("%s: FROM %s is not Debian 12" % (rel, st["from"]))
    build, runtime = stages[0], stages[-1]
    for st in stages:
        for opts, srcs, dst in st["copy"]:
            if any(o.startswith("--from") for o in opts):
                continue
            for src in srcs:
                if not os.path.exists(os.path.join(ROOT, src)):
                    fail("%s: COPY %s: no such file in the repository" % (rel, src))
    # libfuzzer-*-dev is for tests/fuzz (ops/test, ops/fuzz), not for the image
    build_needs = [p for p in lib_packages()
                   if (p.endswith("-dev") and not p.startswith("libfuzzer-"))
                   or p in ("build-essential", "cmake", "pkg-config", "protobuf-c-compiler")]
    for p in build_needs:
        if p not in build["install"]:
            fail("%s: the build stage lacks %s (ops/lib.sh's TW_PACKAGES)" % (rel, p))
    if any(p.endswith("-dev") or p in ("build-essential", "cmake") for p in runtime["install"]):
        fail("%s: the runtime stage installs build packages %s" % (rel, runtime["install"]))
    for lib, pkg in needed_packages().items():
        if pkg is None:
            fail("cannot tell which Debian package has %s" % lib)
        elif pkg not in runtime["install"] and pkg not in ("libc6",):
            fail("%s: the runtime stage lacks %s (for %s)" % (rel, pkg, lib))
    if not runtime["user"] or runtime["user"] in ("root", "0"):
        fail("%s: the runtime stage runs as root" % rel)
    copied = {dst.rstrip("/"): srcs for opts, srcs, dst in runtime["copy"]}
    if "migrate_dir" in globals() and copied.get(migrate_dir) != ["schemas"]:
        fail("%s: schemas/ is not copied to %s, where the migrate job looks" % (rel, migrate_dir))
    for name, s in services.items():
        cmd = s.get("command") or []
        if s.get("build") and "--config" in cmd:
            target = cmd[cmd.index("--config") + 1]
            if os.path.dirname(target) not in copied:
                fail("%s: %s's config directory %s is not in the image" % (rel, name, target))
    if not any(f.endswith("_Packages") or "_Packages." in f
               for f in os.listdir("/var/lib/apt/lists")):
        fail("Debian's package index is empty: apt-get update first")
    for pkg in sorted(set(build["install"] + runtime["install"])):
        r = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg],
                           capture_output=True, text=True)
        if r.returncode != 0 or "Package: " not in r.stdout:
            fail("%s: package %s is not in Debian's index (apt-cache show)" % (rel, pkg))
    ok("%s: %d stages, build installs %d packages, runtime %s, user %s" % (
        rel, len(stages), len(build["install"]), runtime["install"], runtime["user"]))

# ------------------------------------------------------- config examples

try:
    import confluent_kafka
except ImportError:
    confluent_kafka = None
    fail("python3-confluent-kafka is missing: cannot check kafka.* keys")
confdir = os.path.join(ROOT, "ops", "config")
for fn in sorted(os.listdir(confdir)):
    if not fn.endswith(".conf"):
        continue
    binary = fn.split("-")[0].split(".")[0]
    path = os.path.join(confdir, fn)
    rc, vals, err = effective(binary, path, {})
    if rc != 0:
        fail("ops/config/%s: %s --config %s --print-config: exit %d: %s" % (fn, binary, fn, rc,
                                                                            err))
        continue
    kconf = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("kafka.") and "=" in line:
            k, _, v = line.partition("=")
            k = k.strip()[len("kafka."):]
            if k != "brokers":
                kconf[k] = v.strip()
    nkeys = len(kconf)
    if confluent_kafka and kconf:
        kconf["group.id"] = "check"
        kconf["log_level"] = 0  # files named in the example need not exist here
        try:
            confluent_kafka.Consumer(kconf).close()
        except Exception as e:  # unknown property names are what we look for
            if "No such configuration property" in str(e) or "Invalid value" in str(e):
                fail("ops/config/%s: librdkafka refuses it: %s" % (fn, e))
    ok("ops/config/%s loads in %s (%d kafka.* keys known to librdkafka)" % (fn, binary,
                                                                           nkeys))

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
