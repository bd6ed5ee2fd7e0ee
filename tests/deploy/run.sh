#!/usr/bin/env bash
# Deployment checks for deploy/ (issue 16, "Deployment"): one line per check, then
# `N passed, N failed[, N skipped]`; exits non-zero if any check failed.
#
#   - Kubernetes manifests: kubernetes-validate (offline, bundled schemas, strict), a
#     negative control, the manifests' agreement with each other, the start script,
#     and the pods for real in network namespaces, scaled from 3 to 5 (k8s_pods.py);
#   - the systemd unit: systemd-analyze verify and security, then the unit itself
#     under systemd in a container;
#   - the image from deploy/Containerfile.prebuilt with podman, one container, then the
#     3-node deploy/compose.yaml cluster (podman-compose): a write through one node read
#     through another, the /readyz healthcheck, the SIGTERM hand-off; torn down after.
#
# Installs what it needs (apt: podman, runc, podman-compose, debootstrap, systemd,
# redis-tools, binutils; pip: kubernetes-validate). Needs root. No image registry is
# reached: the Debian base image is made with debootstrap from the Debian mirror apt
# uses and imported under a local name, passed to the build as DEBIAN_IMAGE.
#
# A check that needs a server feature this binary lacks (--metrics-addr, FENCEPOST_*
# variables) is SKIPPED with the reason; so is every container check when this
# machine cannot run containers, with the command and its error.
#
#   tests/deploy/run.sh                      FENCEPOST_BIN=... picks the binary
#   FENCEPOST_DEPLOY_KEEP_BASE=0 tests/deploy/run.sh   also remove the cached base images
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
ROOT="$PWD"
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/deploy/run.sh needs root (apt-get, rootful podman, debootstrap)" >&2
  exit 2
fi

PROJECT=fencepost-deploy-test                  # compose project, container/volume prefix
IMAGE=localhost/fencepost:deploy-test
BASE_IMAGE=localhost/fencepost-test/debian:bookworm-slim
SYSTEMD_IMAGE=localhost/fencepost-test/debian-systemd:bookworm
PROBE_IMAGE=localhost/fencepost-test/probe:latest
K8S_VERSIONS="1.30.0 1.37.0"                   # oldest and newest we validate against
KV_PIN='kubernetes-validate==1.37.0'
WORK="$(mktemp -d /tmp/fencepost-deploy-test.XXXXXX)"

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL $1"
  # shellcheck disable=SC2001 # a prefix on every line of a many-line text
  [ -n "${2:-}" ] && sed 's/^/     | /' <<<"$2" | tail -n 25
  return 0
}
skip() { skipped=$((skipped + 1)); echo "SKIP $1 -- $2"; }
note() { echo "     note: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
# Polls `$@` until it succeeds or $deadline (seconds) passes.
wait_for() {
  local deadline=$1
  shift
  local end=$((SECONDS + deadline))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.5
  done
}

# ---------------------------------------------------------------- dependencies
apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log"; return 1; }
    apt_updated=1
  fi
  apt-get install -y -qq "$@" >"$WORK/apt-install.log" 2>&1 || { tail -n 20 "$WORK/apt-install.log"; return 1; }
}

need=()
have podman || need+=(podman)
have runc || need+=(runc)
have podman-compose || need+=(podman-compose)
have debootstrap || need+=(debootstrap)
have systemd-analyze || need+=(systemd)
have redis-cli || need+=(redis-tools)
have strip || need+=(binutils)
[ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns)
deps_error=""
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing (apt): ${need[*]}"
  deps_error="$(apt_install "${need[@]}" 2>&1)" || deps_error="apt-get install ${need[*]} failed: $deps_error"
  [ -z "$deps_error" ] || echo "$deps_error" >&2
fi

kv_error=""
if ! python3 -c 'import kubernetes_validate, yaml' >/dev/null 2>&1; then
  echo "installing (pip): $KV_PIN"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip >/dev/null 2>&1 || true
  fi
  pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@" "$KV_PIN"; }
  # Debian's own Python is externally managed (PEP 668): --user, then
  # --break-system-packages (a test dependency only).
  kv_error="$({ pip_install || pip_install --user || pip_install --break-system-packages; } 2>&1)" && kv_error=""
fi

BIN="${FENCEPOST_BIN:-}"
if [ -z "$BIN" ]; then
  # The release binary if it has the operations features (it may be older than the
  # debug one), else the debug binary if that has them, else whichever exists.
  for b in target/release/fencepost target/debug/fencepost; do
    if [ -x "$b" ] && "$b" --help 2>/dev/null | grep -q -- '--metrics-addr'; then BIN="$ROOT/$b"; break; fi
  done
  if [ -z "$BIN" ]; then
    if [ -x target/release/fencepost ]; then BIN="$ROOT/target/release/fencepost"; else BIN="$ROOT/target/debug/fencepost"; fi
  fi
fi
HELP=""
[ -x "$BIN" ] && HELP="$("$BIN" --help 2>&1)"
echo "binary: $BIN"

# Server features of issue 16 this suite relies on, detected from the binary itself.
has_metrics=0
grep -q -- '--metrics-addr' <<<"$HELP" && has_metrics=1
has_env=0
if grep -q 'FENCEPOST_NODE_ID' <<<"$HELP" && grep -q 'FENCEPOST_INITIAL_CLUSTER' <<<"$HELP"; then
  has_env=1
elif grep -q -- '--print-config' <<<"$HELP" &&
  FENCEPOST_NODE_ID=7 "$BIN" --print-config 2>/dev/null | grep -Eq '^node-id *= *7'; then
  has_env=1
fi
NO_METRICS="this fencepost has no --metrics-addr (\`$BIN --help\` does not list it): /readyz is not served yet"
NO_ENV="this fencepost reads no FENCEPOST_* variables (\`$BIN --help\` names no FENCEPOST_NODE_ID, and no --print-config shows one): deploy/ configures nodes through them"

# ---------------------------------------------------------------- cleanup
compose() { (cd "$WORK/compose" && podman-compose -p "$PROJECT" -f compose.yaml "$@"); }
cleanup_containers() {
  local ids
  ids="$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null)"
  ids+=" $(podman ps -aq --filter "name=^$PROJECT-" 2>/dev/null)"
  # shellcheck disable=SC2086 # a list of ids
  [ -n "${ids// /}" ] && podman rm -f -t 5 $ids >/dev/null 2>&1
  podman volume ls -q 2>/dev/null | grep -E "^${PROJECT}[_-]" | xargs -r podman volume rm -f >/dev/null 2>&1
  podman network ls -q 2>/dev/null | grep -E "^${PROJECT}[_-]" | xargs -r podman network rm -f >/dev/null 2>&1
  podman image rm -f "$IMAGE" >/dev/null 2>&1
  return 0
}
on_exit() {
  if have podman; then
    cleanup_containers
    if [ "${FENCEPOST_DEPLOY_KEEP_BASE:-1}" = 0 ]; then
      podman image rm -f "$BASE_IMAGE" "$SYSTEMD_IMAGE" "$PROBE_IMAGE" >/dev/null 2>&1
    fi
  fi
  rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- Kubernetes
K8S_DIR=deploy/kubernetes
k8s_manifests=()
for f in "$K8S_DIR"/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || k8s_manifests+=("$f")
done

if [ -n "$kv_error" ] || ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
  for v in $K8S_VERSIONS; do
    fail "k8s: manifests valid against Kubernetes $v (kubernetes-validate --strict)" "could not install $KV_PIN: $kv_error"
  done
else
  for v in $K8S_VERSIONS; do
    name="k8s: ${#k8s_manifests[@]} manifests valid against Kubernetes $v (kubernetes-validate --strict)"
    if out="$(python3 -m kubernetes_validate --strict -k "$v" "${k8s_manifests[@]}" 2>&1)" &&
      [ "$(grep -c '^INFO .* passed for resource' <<<"$out")" -eq "${#k8s_manifests[@]}" ]; then
      pass "$name"
    else
      fail "$name" "$out"
    fi
  done
  # The negative control: strict mode must refuse a misspelt field, or the above proves
  # nothing.
  sed 's/publishNotReadyAddresses:/publishNotReadyAddresse:/' "$K8S_DIR/service-headless.yaml" >"$WORK/bad-service.yaml"
  if out="$(python3 -m kubernetes_validate --strict -k 1.30.0 "$WORK/bad-service.yaml" 2>&1)"; then
    fail "k8s: strict validation refuses a misspelt field (control)" "$out"
  else
    pass "k8s: strict validation refuses a misspelt field (control): $(grep -o "'publishNotReadyAddresse' was unexpected" <<<"$out")"
  fi
fi

# The manifests agree with each other and with what the server needs (things no schema
# can tell).
name="k8s: StatefulSet, Services, PDB, Secret and kustomization agree"
if out="$(python3 - "$K8S_DIR" <<'PY' 2>&1
import sys, os, yaml
d = sys.argv[1]
docs = {}
for f in sorted(os.listdir(d)):
    if f.endswith(".yaml"):
        for doc in yaml.safe_load_all(open(os.path.join(d, f))):
            docs.setdefault(doc["kind"], []).append((f, doc))
errs = []
def one(kind, want=None):
    items = [x for x in docs.get(kind, []) if want is None or want(x[1])]
    if len(items) != 1:
        errs.append(f"want one {kind}, found {len(items)}")
        return {}
    return items[0][1]
sts = one("StatefulSet")
spec = sts.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
def selects(sel):
    return sel and all(labels.get(k) == v for k, v in sel.items())
headless = one("Service", lambda s: s["spec"].get("clusterIP") == "None")
client = one("Service", lambda s: s["spec"].get("clusterIP") != "None")
pdb = one("PodDisruptionBudget")
if spec.get("serviceName") != headless.get("metadata", {}).get("name"):
    errs.append("StatefulSet serviceName is not the headless Service")
if headless.get("spec", {}).get("publishNotReadyAddresses") is not True:
    errs.append("headless Service must publish not-ready addresses (peers resolve before a leader exists)")
for s in (headless, client):
    if not selects(s.get("spec", {}).get("selector")):
        errs.append(f"Service {s.get('metadata', {}).get('name')} does not select the pods")
if not selects(pdb.get("spec", {}).get("selector", {}).get("matchLabels")):
    errs.append("PDB does not select the pods")
if pdb.get("spec", {}).get("maxUnavailable") != 1:
    errs.append("PDB maxUnavailable is not 1")
if spec.get("podManagementPolicy") != "Parallel":
    errs.append("podManagementPolicy must be Parallel (OrderedReady deadlocks: readiness needs a majority)")
if pod.get("enableServiceLinks") is not False:
    errs.append("enableServiceLinks must be false (the Service 'fencepost' would inject FENCEPOST_PORT=tcp://...)")
(c,) = pod.get("containers", [{}])[:1] or [{}]
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"), ("startupProbe", "/livez")):
    g = c.get(probe, {}).get("httpGet", {})
    if g.get("path") != path or g.get("port") not in ports:
        errs.append(f"{probe} is not GET {path} on a named container port")
env = {e["name"]: e for e in c.get("env", [])}
metrics = env.get("FENCEPOST_METRICS_ADDR", {}).get("value", "")
if not metrics.endswith(":%d" % ports.get("http", -1)):
    errs.append("FENCEPOST_METRICS_ADDR does not listen on the http port")
if env.get("CLUSTER_SIZE", {}).get("value") != str(spec.get("replicas")):
    errs.append("CLUSTER_SIZE differs from replicas")
if env.get("HEADLESS_SERVICE", {}).get("value") != spec.get("serviceName"):
    errs.append("HEADLESS_SERVICE differs from serviceName")
for s in (headless, client):
    for p in s.get("spec", {}).get("ports", []):
        if p.get("targetPort") not in ports:
            errs.append(f"Service port {p.get('name')} targets an unknown container port")
if not c.get("lifecycle", {}).get("preStop"):
    errs.append("no preStop hook")
if pod.get("terminationGracePeriodSeconds", 30) < 15:
    errs.append("terminationGracePeriodSeconds leaves no time for the hand-off")
sc = c.get("securityContext", {})
psc = pod.get("securityContext", {})
if not (psc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False):
    errs.append("not non-root with a read-only root fs")
if psc.get("runAsUser") != 10001:
    errs.append("runAsUser is not the image's uid 10001")
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])]
if mounts.get(claims[0] if claims else None) != "/var/lib/fencepost":
    errs.append("the volumeClaimTemplate is not mounted at /var/lib/fencepost")
if not c.get("resources", {}).get("requests") or not c.get("resources", {}).get("limits"):
    errs.append("no resource requests and limits")
secret = one("Secret")
keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
for e in env.values():
    ref = e.get("valueFrom", {}).get("secretKeyRef")
    if ref and (ref["name"] != secret.get("metadata", {}).get("name") or ref["key"] not in keys):
        errs.append(f"{e['name']} refers to {ref['name']}/{ref['key']}, which secret.example.yaml lacks")
kust = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
listed = set(kust.get("resources", []))
present = {f for f in os.listdir(d) if f.endswith(".yaml") and f not in ("kustomization.yaml", "secret.example.yaml")}
if listed != present:
    errs.append(f"kustomization resources {sorted(listed)} != manifests {sorted(present)}")
if "secret.example.yaml" in listed:
    errs.append("the example Secret must not be applied by kustomization")
print("\n".join(errs))
sys.exit(1 if errs else 0)
PY
)"; then
  pass "$name"
else
  fail "$name" "$out"
fi

# The StatefulSet's start script, run as it is for each pod with a stand-in for the
# binary that prints its arguments: node id = ordinal + 1, members = the pods' DNS names.
name="k8s: start script gives pod fencepost-N node id N+1, the stable DNS names as --initial-cluster (pods 0-2) or --join through pod 0 (pod 3, scaled out), and its own DNS name as --advertise-host"
script="$(python3 -c '
import sys, yaml
sts = yaml.safe_load(open(sys.argv[1]))
c = sts["spec"]["template"]["spec"]["containers"][0]
assert c["command"] == ["/bin/sh", "-c"], c["command"]
print(c["args"][0])' "$K8S_DIR/statefulset.yaml" 2>&1)"
cat >"$WORK/fencepost-stub" <<'EOF'
#!/bin/sh
printf '%s\n' "$@"
EOF
chmod +x "$WORK/fencepost-stub"
script="${script//\/usr\/local\/bin\/fencepost/$WORK/fencepost-stub}"
members="1=fencepost-0.fencepost-headless.coord.svc.cluster.local:6379,2=fencepost-1.fencepost-headless.coord.svc.cluster.local:6379,3=fencepost-2.fencepost-headless.coord.svc.cluster.local:6379"
errs=""
for ord in 0 1 2 3; do
  got="$(env -i PATH=/usr/bin:/bin POD_NAME="fencepost-$ord" POD_NAMESPACE=coord HEADLESS_SERVICE=fencepost-headless \
    CLUSTER_SIZE=3 CLUSTER_DOMAIN=cluster.local /bin/sh -c "$script" 2>&1 | tr '\n' ' ')"
  self="fencepost-$ord.fencepost-headless.coord.svc.cluster.local"
  if [ "$ord" -lt 3 ]; then
    want="--node-id $((ord + 1)) --initial-cluster $members --advertise-host $self "
  else
    want="--node-id $((ord + 1)) --join fencepost-0.fencepost-headless.coord.svc.cluster.local:6379 --advertise-host $self "
  fi
  [ "$got" = "$want" ] || errs+="pod fencepost-$ord: got [$got] want [$want]"$'\n'
done
if [ -z "$errs" ]; then pass "$name"; else fail "$name" "$errs"; fi

# The same script and environment for real: five pods, each in a network namespace that
# resolves the pods' DNS names; 0-2 found the cluster, 3 and 4 (scaled out) join as
# voters, 4 after a SIGKILL in the middle of its catch-up.
name="k8s: the StatefulSet's pods for real in network namespaces: 0-2 found the cluster, pod 3 (scale to 4) joins as a voter under its DNS name and serves a write; pod 4 (scale to 5), SIGKILLed while a learner half caught up, restarts on its volume and ends a voter"
if [ "$has_env" = 0 ] || [ "$has_metrics" = 0 ]; then
  skip "$name" "$NO_ENV"
else
  out="$(timeout 180 python3 tests/deploy/k8s_pods.py "$K8S_DIR/statefulset.yaml" "$BIN" 2>&1)"
  rc=$?
  if [ "$rc" = 0 ]; then
    pass "$name"
    while IFS= read -r l; do note "$l"; done <<<"$out"
  elif [ "$rc" = 77 ]; then
    skip "$name" "$out"
  else
    fail "$name" "exit $rc: $out"
  fi
fi

# Why the StatefulSet keeps enableServiceLinks: false: a service link for the Service
# named "fencepost" would set FENCEPOST_PORT=tcp://<cluster ip>:6379 in the pod, which the
# server reads as its --port and refuses, naming the cause.
name="k8s: a service link's FENCEPOST_PORT=tcp://... stops fencepost (why the StatefulSet sets enableServiceLinks: false)"
if [ "$has_env" = 0 ]; then
  skip "$name" "$NO_ENV"
else
  out="$(env FENCEPOST_PORT=tcp://10.96.0.10:6379 FENCEPOST_SERVICE_HOST=10.96.0.10 "$BIN" --print-config 2>&1)"
  rc=$?
  if [ "$rc" = 2 ] && grep -q -- "Kubernetes service link" <<<"$out" &&
    grep -q 'enableServiceLinks: false' "$K8S_DIR/statefulset.yaml"; then
    pass "$name (exit 2: $(head -n 1 <<<"$out"))"
  else
    fail "$name" "exit $rc: $out"
  fi
fi

# ---------------------------------------------------------------- systemd (offline)
UNIT=deploy/systemd/fencepost.service
mkdir -p "$WORK/systemd"
# verify checks that ExecStart's binary exists; /usr/local/bin/fencepost is not installed
# here, so the copy checked points ExecStart at the binary under test instead.
sed "s|^ExecStart=/usr/local/bin/fencepost|ExecStart=$BIN|" "$UNIT" >"$WORK/systemd/fencepost.service"
name="systemd: systemd-analyze verify $UNIT (on a copy whose ExecStart is $BIN, since /usr/local/bin/fencepost is not installed here)"
if ! have systemd-analyze; then
  fail "$name" "systemd-analyze not installed: $deps_error"
elif ! grep -q "^ExecStart=$BIN\$" "$WORK/systemd/fencepost.service"; then
  fail "$name" "ExecStart= is not /usr/local/bin/fencepost, the path docs/deploy.md installs to"
elif out="$(systemd-analyze verify "$WORK/systemd/fencepost.service" 2>&1)" && [ -z "$out" ]; then
  pass "$name"
else
  fail "$name" "$out"
fi
name="systemd: systemd-analyze security --offline=yes: exposure at most 2.0"
if have systemd-analyze && out="$(systemd-analyze security --offline=yes --threshold=20 "$WORK/systemd/fencepost.service" 2>&1)"; then
  pass "$name ($(grep -o 'Overall exposure level.*' <<<"$out" | sed 's/ [^ ]*$//'))"
else
  fail "$name" "$(grep -E '✗|Overall' <<<"${out:-}")"
fi

# ---------------------------------------------------------------- image (offline)
name="image: deploy/Containerfile and deploy/Containerfile.prebuilt share the runtime stage line for line"
stage() { sed -n '/^# ---- runtime stage/,$p' "$1"; }
if [ -n "$(stage deploy/Containerfile)" ] && out="$(diff <(stage deploy/Containerfile) <(stage deploy/Containerfile.prebuilt) 2>&1)"; then
  pass "$name"
else
  fail "$name" "${out:-no runtime stage marker}"
fi

# ---------------------------------------------------------------- compose (offline)
# What the running cluster below proves only once the server reads FENCEPOST_*: the file
# itself, read as compose reads it (YAML merge keys resolved).
name="compose: compose.yaml: 3 nodes with ids 1-3, the service names as members, 127.0.0.1-only ports, a volume each, a /readyz healthcheck"
if out="$(python3 - deploy/compose.yaml <<'PY' 2>&1
import sys, re, yaml
c = yaml.safe_load(open(sys.argv[1]))
errs = []
svcs = c.get("services", {})
if len(svcs) != 3:
    errs.append(f"{len(svcs)} services, want 3")
ids, members, host_ports = {}, set(), []
for name, s in svcs.items():
    env = s.get("environment", {})
    ids[name] = env.get("FENCEPOST_NODE_ID")
    members.add(env.get("FENCEPOST_INITIAL_CLUSTER"))
    for key in ("FENCEPOST_REQUIREPASS", "FENCEPOST_CLUSTER_SECRET"):
        if not re.fullmatch(r"\$\{%s:\?[^}]+\}" % key, str(env.get(key, ""))):
            errs.append(f"{name}: {key} is not required from the environment (${{{key}:?...}})")
    if env.get("FENCEPOST_BIND") != "0.0.0.0" or not str(env.get("FENCEPOST_METRICS_ADDR", "")).endswith(":9736"):
        errs.append(f"{name}: bind/metrics address")
    for p in s.get("ports", []):
        if not str(p).startswith("127.0.0.1:"):
            errs.append(f"{name}: port {p} is not published on 127.0.0.1 only")
        host_ports.append(str(p).split(":")[1])
    vols = [v for v in s.get("volumes", []) if str(v).endswith(":/var/lib/fencepost")]
    if len(vols) != 1 or str(vols[0]).split(":")[0] not in c.get("volumes", {}):
        errs.append(f"{name}: no named volume on /var/lib/fencepost")
    test = s.get("healthcheck", {}).get("test", [])
    if "/readyz" not in " ".join(test):
        errs.append(f"{name}: healthcheck does not probe /readyz")
    if s.get("stop_signal") != "SIGTERM" or not s.get("read_only"):
        errs.append(f"{name}: stop_signal SIGTERM and read_only wanted")
if sorted(ids.values()) != ["1", "2", "3"]:
    errs.append(f"node ids {ids}")
if len(members) != 1:
    errs.append(f"nodes disagree on the member list: {members}")
else:
    want = ",".join(f"{i}={n}:6379" for n, i in sorted(ids.items(), key=lambda x: x[1]))
    if members != {want}:
        errs.append(f"member list {members} != {want}")
if len(set(host_ports)) != len(host_ports):
    errs.append(f"host ports collide: {host_ports}")
print("\n".join(errs))
sys.exit(1 if errs else 0)
PY
)"; then
  pass "$name"
else
  fail "$name" "$out"
fi
name="compose: podman-compose refuses to start the cluster without FENCEPOST_REQUIREPASS"
if ! have podman-compose; then
  fail "$name" "podman-compose not installed: $deps_error"
else
  mkdir -p "$WORK/compose-nosecret"
  cp deploy/compose.yaml "$WORK/compose-nosecret/compose.yaml"
  # Substitution fails before podman-compose creates anything (no network, no volume).
  out="$(cd "$WORK/compose-nosecret" && env -u FENCEPOST_REQUIREPASS -u FENCEPOST_CLUSTER_SECRET \
    podman-compose --dry-run -p "$PROJECT-nosecret" -f compose.yaml up -d 2>&1)"
  if grep -q 'set FENCEPOST_REQUIREPASS in deploy/.env or the environment' <<<"$out" &&
    ! podman network exists "${PROJECT}-nosecret_default" 2>/dev/null; then
    pass "$name"
  else
    fail "$name" "$out"
  fi
fi

# ---------------------------------------------------------------- containers
CONTAINER_CHECKS=(
  "image: build from deploy/Containerfile.prebuilt (podman)"
  "image: a container runs as uid 10001 on its volume, serves RESP on 127.0.0.1, stops cleanly on SIGTERM"
  "compose: 3 nodes form one cluster; a lock taken through node 1 reads back through node 3"
  "compose: healthcheck (fencepost-probe /readyz) healthy on every node"
  "compose: SIGTERM to the leader hands leadership over; the node restarts on its volume and rejoins"
  "compose: down -v leaves no container, volume or network"
  "systemd: the unit runs fencepost under systemd (hardening on); it serves and stops cleanly"
  "systemd: FENCEPOST_* settings in /etc/fencepost/fencepost.env reach fencepost"
)
skip_containers() {
  local c
  for c in "${CONTAINER_CHECKS[@]}"; do skip "$c" "$1"; done
}

# Can this machine run a container at all? A tiny image of the host's /bin/true tells,
# first with podman's defaults, then with the two work-arounds this kind of sandbox
# needs (runc, which handles cgroup v1 hybrid hierarchies that crun refuses; ulimits at
# or below the host's hard limits, which podman's defaults exceed without
# CAP_SYS_RESOURCE).
containers_ok=0
container_error=""
if ! have podman; then
  container_error="podman is not installed: $deps_error"
elif [ ! -x "$BIN" ]; then
  container_error="no fencepost binary at $BIN (build it first: cargo build --release --bin fencepost)"
else
  mkdir -p "$WORK/probe-root"
  for f in /bin/true $(ldd /bin/true | grep -o '/[^ ]*'); do
    mkdir -p "$WORK/probe-root$(dirname "$f")"
    cp -L "$f" "$WORK/probe-root$f"
  done
  podman image exists "$PROBE_IMAGE" ||
    tar -C "$WORK/probe-root" -c . | podman import - "$PROBE_IMAGE" >/dev/null 2>&1
  probe_cmd=(podman run --rm --pull=never --network=none "$PROBE_IMAGE" /bin/true)
  if out="$("${probe_cmd[@]}" 2>&1)"; then
    containers_ok=1
  else
    first_error="\`${probe_cmd[*]}\` failed: $out"
    nofile=$(( $(ulimit -Hn) < 16384 ? $(ulimit -Hn) : 16384 ))
    cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
    export CONTAINERS_CONF="$WORK/containers.conf"
    if have runc && out2="$("${probe_cmd[@]}" 2>&1)"; then
      containers_ok=1
      note "podman's defaults cannot run a container here: $first_error"
      note "running with CONTAINERS_CONF: runtime runc, ulimits nofile=$nofile nproc=4096 (works)"
    else
      container_error="$first_error; with runc and lowered ulimits (CONTAINERS_CONF=$WORK/containers.conf): ${out2:-runc is not installed}"
      unset CONTAINERS_CONF
    fi
  fi
fi

build_base_images() {
  podman image exists "$BASE_IMAGE" && podman image exists "$SYSTEMD_IMAGE" && return 0
  local mirror rootfs="$WORK/rootfs"
  mirror="$(grep -hoE '^(URIs: *|deb +)(\[[^]]*\] +)?https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    grep -oE 'https?://[^ ]+' | head -n1)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { echo "debootstrap --variant=minbase bookworm $rootfs $mirror failed:"; tail -n 15 "$WORK/debootstrap.log"; return 1; }
  # Slim as debian:bookworm-slim is: no package lists, caches, docs or locales.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
  rm -rf "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | podman import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null ||
    { echo "podman import of the debootstrap rootfs failed"; return 1; }
  # The same rootfs plus systemd, to run the unit under a real systemd.
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  chroot "$rootfs" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends systemd systemd-sysv && apt-get clean && rm -rf /var/lib/apt/lists/*' \
    >"$WORK/chroot-apt.log" 2>&1 || { echo "apt-get install systemd in the rootfs failed:"; tail -n 15 "$WORK/chroot-apt.log"; return 1; }
  tar -C "$rootfs" --numeric-owner -c . | podman import --change 'CMD ["/sbin/init"]' - "$SYSTEMD_IMAGE" >/dev/null ||
    { echo "podman import of the systemd rootfs failed"; return 1; }
  rm -rf "$rootfs"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rcli() { local port=$1; shift; redis-cli -p "$port" -a "$PASS" --no-auth-warning "$@"; }
raft_field() { rcli "$1" RAFT INFO 2>/dev/null | awk -v k="$2" 'f {print; exit} $0 == k {f=1}'; }
has_leader() { [ -n "$(raft_field "$1" leader-id)" ]; }

if [ "$containers_ok" = 0 ]; then
  skip_containers "containers cannot run here: $container_error"
elif ! base_error="$(build_base_images 2>&1)"; then
  # Building the base image needs only the Debian mirror: a failure is a failure.
  for c in "${CONTAINER_CHECKS[@]}"; do fail "$c" "base image: $base_error"; done
else
  cleanup_containers
  PASS="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  SECRET="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"

  # -- image build, the prebuilt route. The context holds what the documented context
  # (the repository's top level) would: target/release/fencepost and deploy/. The binary
  # is stripped to keep the image small (a debug build carries ~140 MB of debug info).
  ctx="$WORK/context"
  mkdir -p "$ctx/target/release" "$ctx/deploy"
  cp deploy/fencepost-probe "$ctx/deploy/"
  strip -o "$ctx/target/release/fencepost" "$BIN" 2>/dev/null || cp "$BIN" "$ctx/target/release/fencepost"
  name="${CONTAINER_CHECKS[0]} (base $BASE_IMAGE via debootstrap; binary $BIN, stripped)"
  # --layers=false: no cached intermediate images (the build stage) left behind.
  if out="$(podman build --pull=never --layers=false -f "$ROOT/deploy/Containerfile.prebuilt" \
    --ignorefile "$ROOT/deploy/Containerfile.prebuilt.dockerignore" \
    --build-arg DEBIAN_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$ctx" 2>&1)"; then
    size="$(podman image inspect "$IMAGE" --format '{{.Size}}')"
    pass "$name: $((size / 1000000)) MB"
    image_ok=1
  else
    fail "$name" "$out"
    image_ok=0
  fi

  # -- one container: the image's user, volume, published port and SIGTERM.
  name="${CONTAINER_CHECKS[1]}"
  if [ "$image_ok" = 1 ]; then
    p1="$(free_port)"
    errs=""
    # Flags only (every fencepost has them), so the image is checked whatever the
    # server's FENCEPOST_* support.
    out="$(podman run -d --name "$PROJECT-single" --read-only --tmpfs /tmp -v "$PROJECT-single:/var/lib/fencepost" \
      -p "127.0.0.1:$p1:6379" "$IMAGE" --bind 0.0.0.0 --data-dir /var/lib/fencepost --requirepass "$PASS" 2>&1)" ||
      errs+="podman run: $out"$'\n'
    if [ -z "$errs" ]; then
      wait_for 30 has_leader "$p1" || errs+="no leader on 127.0.0.1:$p1 within 30 s: $(podman logs "$PROJECT-single" 2>&1 | tail -n 5)"$'\n'
      tok="$(rcli "$p1" LOCK ACQUIRE deploy-test w1 30000 2>&1)"
      [[ "$tok" =~ ^[0-9]+$ ]] || errs+="LOCK ACQUIRE answered [$tok]"$'\n'
      who="$(podman exec "$PROJECT-single" id -u 2>&1)"
      [ "$who" = 10001 ] || errs+="runs as uid [$who], not 10001"$'\n'
      owner="$(podman exec "$PROJECT-single" stat -c '%u %a' /var/lib/fencepost 2>&1)"
      [ "$owner" = "10001 700" ] || errs+="/var/lib/fencepost is [$owner], want [10001 700]"$'\n'
      files="$(podman exec "$PROJECT-single" find /var/lib/fencepost -type f 2>&1 | head -n 1)"
      [ -n "$files" ] || errs+="nothing written to the /var/lib/fencepost volume"$'\n'
      podman stop -t 20 "$PROJECT-single" >/dev/null 2>&1
      code="$(podman inspect "$PROJECT-single" --format '{{.State.ExitCode}}' 2>&1)"
      [ "$code" = 0 ] || errs+="exit code [$code] after SIGTERM (podman stop)"$'\n'
      grep -q "shutting down" <<<"$(podman logs "$PROJECT-single" 2>&1)" || errs+="no graceful shutdown logged"$'\n'
    fi
    podman rm -f "$PROJECT-single" >/dev/null 2>&1
    podman volume rm -f "$PROJECT-single" >/dev/null 2>&1
    if [ -z "$errs" ]; then pass "$name (token $tok)"; else fail "$name" "$errs"; fi
  else
    skip "$name" "the image did not build"
  fi

  # -- the compose cluster.
  if [ "$image_ok" != 1 ]; then
    for i in 2 3 4 5; do skip "${CONTAINER_CHECKS[$i]}" "the image did not build"; done
  elif [ "$has_env" = 0 ]; then
    for i in 2 3 4 5; do skip "${CONTAINER_CHECKS[$i]}" "$NO_ENV"; done
  else
    # A copy of the compose file in a folder of its own: podman-compose 1.0 lets a
    # deploy/.env (a developer's) override the environment this test sets.
    mkdir -p "$WORK/compose"
    cp deploy/compose.yaml "$WORK/compose/compose.yaml"
    export FENCEPOST_IMAGE="$IMAGE" FENCEPOST_REQUIREPASS="$PASS" FENCEPOST_CLUSTER_SECRET="$SECRET"
    cport=()
    for n in 1 2 3; do
      cport[n]="$(free_port)"
      export "FENCEPOST_CLIENT_PORT_$n=${cport[n]}" "FENCEPOST_HTTP_PORT_$n=$(free_port)"
    done
    ctr() { echo "${PROJECT}_fencepost-$1_1"; }
    errs=""
    out="$(compose up -d 2>&1)" || errs+="podman-compose up -d failed: $(tail -n 15 <<<"$out")"$'\n'
    if [ -z "$errs" ]; then
      for n in 1 2 3; do
        wait_for 60 has_leader "${cport[n]}" ||
          errs+="node $n (127.0.0.1:${cport[n]}) knows no leader after 60 s: $(podman logs "$(ctr "$n")" 2>&1 | tail -n 5)"$'\n'
      done
    fi
    tok=""
    if [ -z "$errs" ]; then
      voters="$(rcli "${cport[1]}" RAFT INFO | awk 'f && /^[0-9]+$/ {v = v $0 " "} /^voters$/ {f=1} /^learners$/ {f=0} END {print v}')"
      [ "$voters" = "1 2 3 " ] || errs+="voters [$voters], want [1 2 3 ]"$'\n'
      tok="$(rcli "${cport[1]}" LOCK ACQUIRE deploy-test w1 60000 2>&1)"
      [[ "$tok" =~ ^[0-9]+$ ]] || errs+="LOCK ACQUIRE through node 1 answered [$tok]"$'\n'
      info="$(rcli "${cport[3]}" LOCK INFO deploy-test 2>&1 | tr '\n' ' ')"
      [[ "$info" == "owner w1 token $tok "* ]] || errs+="LOCK INFO through node 3: [$info], want owner w1 token $tok"$'\n'
      other="$(rcli "${cport[2]}" LOCK ACQUIRE deploy-test w2 60000 2>&1)"
      [ -z "$other" ] || errs+="a second owner got [$other] through node 2, want nil"$'\n'
    fi
    if [ -z "$errs" ]; then
      pass "${CONTAINER_CHECKS[2]} (token $tok, leader $(raft_field "${cport[1]}" leader-addr))"
      cluster_ok=1
    else
      fail "${CONTAINER_CHECKS[2]}" "$errs"
      cluster_ok=0
    fi

    # Healthchecks: podman runs them from systemd timers, which a machine without
    # systemd as init lacks, so each is run by hand (the same command, the same verdict).
    name="${CONTAINER_CHECKS[3]}"
    if [ "$has_metrics" = 0 ]; then
      skip "$name" "$NO_METRICS"
    elif [ "$cluster_ok" != 1 ]; then
      fail "$name" "the cluster did not form"
    else
      errs=""
      for n in 1 2 3; do
        wait_for 30 podman healthcheck run "$(ctr "$n")" ||
          errs+="node $n: $(podman healthcheck run "$(ctr "$n")" 2>&1; podman exec "$(ctr "$n")" fencepost-probe /readyz 2>&1)"$'\n'
        # The published HTTP port (FENCEPOST_METRICS_ADDR=0.0.0.0:9736 in the container)
        # answers from the host too: /readyz and /metrics.
        hp="FENCEPOST_HTTP_PORT_$n"
        out="$(python3 - "${!hp}" <<'PY' 2>&1
import sys, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
    assert r.status == 200, r.status
with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
    body = r.read().decode()
assert "\nfencepost_raft_has_leader 1" in body, body[:300]
PY
)" || errs+="node $n: 127.0.0.1:${!hp} (published 9736): $out"$'\n'
      done
      if [ -z "$errs" ]; then pass "$name; /readyz and /metrics on the published ports"; else fail "$name" "$errs"; fi
    fi

    name="${CONTAINER_CHECKS[4]}"
    if [ "$cluster_ok" != 1 ]; then
      fail "$name" "the cluster did not form"
    else
      errs=""
      leader="$(raft_field "${cport[1]}" leader-id)"
      others=()
      for n in 1 2 3; do [ "$n" = "$leader" ] || others+=("$n"); done
      t0=$SECONDS
      podman stop -t 30 "$(ctr "$leader")" >/dev/null 2>&1
      stop_s=$((SECONDS - t0))
      new_leader_elsewhere() {
        local l
        l="$(raft_field "${cport[${others[0]}]}" leader-id)"
        [ -n "$l" ] && [ "$l" != "$leader" ]
      }
      wait_for 10 new_leader_elsewhere || errs+="no new leader within 10 s of stopping node $leader"$'\n'
      logs="$(podman logs "$(ctr "$leader")" 2>&1)"
      grep -q "handing leadership over" <<<"$logs" || errs+="node $leader logged no hand-off: $(tail -n 5 <<<"$logs")"$'\n'
      code="$(podman inspect "$(ctr "$leader")" --format '{{.State.ExitCode}}' 2>&1)"
      [ "$code" = 0 ] || errs+="node $leader exited [$code] after SIGTERM"$'\n'
      new="$(raft_field "${cport[${others[0]}]}" leader-id)"
      podman start "$(ctr "$leader")" >/dev/null 2>&1
      rejoined() { [ "$(raft_field "${cport[$leader]}" leader-id)" = "$new" ]; }
      wait_for 60 rejoined || errs+="node $leader did not rejoin (leader $new) within 60 s"$'\n'
      info="$(rcli "${cport[$leader]}" LOCK INFO deploy-test 2>&1 | tr '\n' ' ')"
      [[ "$info" == "owner w1 token $tok "* ]] || errs+="after the restart, LOCK INFO through node $leader: [$info]"$'\n'
      if [ -z "$errs" ]; then
        pass "$name (node $leader -> node $new, stop took ${stop_s} s)"
      else
        fail "$name" "$errs"
      fi
    fi

    name="${CONTAINER_CHECKS[5]}"
    out="$(compose down -v -t 30 2>&1)"
    down_rc=$?
    # podman-compose 1.0 leaves the project's network behind: remove it as docs/deploy.md says.
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
    left="$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT")"
    left+="$(podman volume ls -q | grep -E "^${PROJECT}_" || true)"
    left+="$(podman network ls -q | grep -E "^${PROJECT}_" || true)"
    if [ "$down_rc" = 0 ] && [ -z "$left" ]; then pass "$name"; else fail "$name" "rc=$down_rc left=[$left] $(tail -n 5 <<<"$out")"; fi
  fi

  # -- the systemd unit under a real systemd, in a container.
  name="${CONTAINER_CHECKS[6]}"
  sd="$PROJECT-systemd"
  mkdir -p "$WORK/etc-fencepost"
  if [ "$has_env" = 1 ]; then
    printf 'FENCEPOST_NODE_ID=1\nFENCEPOST_PORT=6390\n' >"$WORK/etc-fencepost/fencepost.env"
    sd_port=6390
  else
    printf '# this fencepost reads no FENCEPOST_* variables\n' >"$WORK/etc-fencepost/fencepost.env"
    sd_port=6379
  fi
  chmod 0600 "$WORK/etc-fencepost/fencepost.env"
  errs=""
  served_on=""
  status=""
  out="$(podman run -d --name "$sd" --systemd=always --network=none \
    -v "$ctx/target/release/fencepost:/usr/local/bin/fencepost:ro" \
    -v "$ROOT/$UNIT:/etc/systemd/system/fencepost.service:ro" \
    -v "$WORK/etc-fencepost:/etc/fencepost:ro" \
    "$SYSTEMD_IMAGE" /sbin/init 2>&1)" || errs+="podman run systemd: $out"$'\n'
  sysd_ready() { podman exec "$sd" systemctl is-system-running 2>/dev/null | grep -Eq 'running|degraded'; }
  if [ -z "$errs" ]; then
    wait_for 30 sysd_ready || errs+="systemd did not come up: $(podman logs "$sd" 2>&1 | tail -n 5)"$'\n'
    out="$(podman exec "$sd" systemctl start fencepost 2>&1)" || errs+="systemctl start: $out"$'\n'
    # RESP inline PING with bash alone: no redis-cli in that image.
    ping_sd() {
      podman exec "$sd" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'PING\r\n' >&3 && read -t 3 -r l <&3 && [ \"\${l%\$'\r'}\" = +PONG ]"
    }
    ping_any() {
      local p
      for p in $sd_port 6379; do
        ping_sd "$p" && served_on=$p && return 0
      done
      return 1
    }
    wait_for 20 ping_any
    [ -n "$served_on" ] || errs+="no +PONG on 127.0.0.1:$sd_port (or 6379) in the container: $(podman exec "$sd" journalctl -u fencepost --no-pager 2>&1 | tail -n 8)"$'\n'
    status="$(podman exec "$sd" bash -c 'p=$(systemctl show -p MainPID --value fencepost); grep -E "^(Uid|NoNewPrivs|Seccomp|CapEff):" /proc/$p/status' 2>&1 | tr -s '\t ' ' ' | tr '\n' ';')"
    [[ "$status" == *"NoNewPrivs: 1"* && "$status" == *"Seccomp: 2"* && "$status" == *"CapEff: 0000000000000000"* ]] ||
      errs+="process state not hardened: [$status]"$'\n'
    [[ "$status" == "Uid: 0 "* ]] && errs+="runs as root: [$status]"$'\n'
    out="$(podman exec "$sd" systemctl stop fencepost 2>&1)" || errs+="systemctl stop: $out"$'\n'
    res="$(podman exec "$sd" systemctl show fencepost -p Result -p ExecMainStatus --value 2>&1 | tr '\n' ' ')"
    [ "$res" = "success 0 " ] || errs+="after stop: Result/ExecMainStatus [$res]: $(podman exec "$sd" journalctl -u fencepost --no-pager 2>&1 | tail -n 5)"$'\n'
  fi
  if [ -z "$errs" ]; then
    pass "$name (uid $(sed -E 's/^Uid: ([0-9]+).*/\1/' <<<"$status"), seccomp on, no capabilities, port $served_on)"
  else
    fail "$name" "$errs"
  fi
  name="${CONTAINER_CHECKS[7]}"
  if [ "$has_env" = 0 ]; then
    skip "$name" "$NO_ENV"
  elif [ "$served_on" = 6390 ]; then
    pass "$name (FENCEPOST_PORT=6390 from the file: PING answered there)"
  else
    fail "$name" "the unit did not serve on FENCEPOST_PORT=6390 from the env file (answered on: ${served_on:-none})"
  fi
  podman rm -f -t 5 "$sd" >/dev/null 2>&1
fi

if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
