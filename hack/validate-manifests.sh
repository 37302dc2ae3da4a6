#!/usr/bin/env bash
# Lints crds/ and manifests/ with yamllint, validates every example in manifests/examples (and the
# local demo's in manifests/examples/local, placeholders filled in) against the openAPIV3Schema of
# its CRD in crds/ with check-jsonschema, and evaluates the CRDs' CEL rules
# on them with hack/cel-check.py. Then checks the install (docs/install.md): the CRD copies equal
# crds/, the kustomize bases render (kubectl kustomize), the Helm chart lints and renders (Helm's
# own engine through helm-python-sdk), both renderings are well-formed Kubernetes objects that
# agree with each other and with sextant-controller's flags, and the objects the development API
# server serves are applied to one with kubectl. Then the chart's conventions (hack/check-chart.py:
# values schema and typos, users' aggregated roles, CRD templates, extras), its alerts and Grafana
# dashboards against the metrics the code exports (hack/check-monitoring.py, promtool), and the CRD
# upgrade path with Helm's SDK on a development API server (hack/check-chart-upgrade.py).
# Needs: yamllint (apt), check-jsonschema, cel-python, kubernetes and helm-python-sdk (pip; the
# last is installed here when missing), kubectl, and a built `sextant` ($SEXTANT_BIN, default
# .build/debug/sextant; without it the script fails, naming it).
# Usage: hack/validate-manifests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in yamllint check-jsonschema python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (see hack/apt-packages.txt, hack/requirements-test.txt)" >&2; exit 2; }
done

echo "yamllint crds/ manifests/ hack/local-crds/ charts/sextant/{Chart.yaml,values.yaml,ci,files/crds} hack/chart-testdata"
yamllint -c .yamllint --strict crds manifests hack/local-crds charts/sextant/Chart.yaml charts/sextant/values.yaml \
    charts/sextant/ci charts/sextant/files/crds hack/chart-testdata

# hack/local-crds/ (Istio's and the Gateway API's kinds, for the local environment and the tests)
# never ships: a cluster gets those CRDs from Istio or the Gateway API.
if grep -rlE '^  name: [a-z]+\.(networking\.istio\.io|gateway\.networking\.k8s\.io)$' charts manifests; then
  echo "error: the files above define Istio or Gateway API CRDs; those live in hack/local-crds/ only" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Extract each CRD's schema (as JSON Schema) and group the examples by kind.
python3 - "$tmp" <<'PY'
import glob, json, os, sys, yaml
out = sys.argv[1]
kinds = {}
for path in sorted(glob.glob("crds/*.yaml")):
    with open(path) as f:
        crd = yaml.safe_load(f)
    kind = crd["spec"]["names"]["kind"]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    with open(os.path.join(out, kind + ".json"), "w") as f:
        json.dump(schema, f)
    kinds[kind] = []
for path in sorted(glob.glob("manifests/examples/*.yaml")):
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            kind = doc.get("kind")
            if kind not in kinds:
                sys.exit(f"{path}: kind {kind!r} has no CRD in crds/")
            kinds[kind].append(path)
# The local demo's manifests, with the placeholders hack/run-local.sh fills in.
for path in sorted(glob.glob("manifests/examples/local/*.yaml")):
    with open(path) as f:
        text = f.read().replace("@DEMO_DIR@", "/tmp/sextant-demo").replace("@STEP_SECONDS@", "25")
    for i, doc in enumerate(yaml.safe_load_all(text)):
        # Sextant's kinds only (rollout.yaml also holds Istio's, from hack/local-crds/).
        if doc is None or doc.get("kind") not in kinds:
            continue
        copy = os.path.join(out, "local-%s-%d.yaml" % (os.path.basename(path)[:-5], i))
        with open(copy, "w") as f:
            yaml.safe_dump(doc, f)
        kinds[doc["kind"]].append(copy)
with open(os.path.join(out, "examples.txt"), "w") as f:
    for kind, paths in kinds.items():
        f.write(kind + " " + " ".join(paths) + "\n")
PY

while read -r kind files; do
  [ -n "$files" ] || continue
  echo "check-jsonschema $kind: $files"
  # shellcheck disable=SC2086
  check-jsonschema --schemafile "$tmp/$kind.json" $files
done < "$tmp/examples.txt"

echo "CEL rules (x-kubernetes-validations) on manifests/examples (and local/)"
python3 hack/cel-check.py crds manifests/examples/*.yaml "$tmp"/local-*.yaml

# ---------------------------------------------------------------------------------------------
# The install: charts/sextant, manifests/crds, manifests/base, manifests/overlays (docs/install.md).

echo "CRD copies (charts/sextant/files/crds/, manifests/crds/) equal crds/"
drift=0
for dir in charts/sextant/files/crds manifests/crds; do
  for f in crds/*.yaml; do
    if ! cmp -s "$f" "$dir/$(basename "$f")"; then
      echo "error: $dir/$(basename "$f") differs from $f (refresh: cp crds/*.yaml $dir/)" >&2
      drift=1
    fi
  done
  for f in "$dir"/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] && continue
    [ -f "crds/$(basename "$f")" ] || { echo "error: $f has no counterpart in crds/" >&2; drift=1; }
  done
done
for f in crds/*.yaml; do
  grep -qE "^  - $(basename "$f")\$" manifests/crds/kustomization.yaml \
    || { echo "error: manifests/crds/kustomization.yaml does not list $(basename "$f")" >&2; drift=1; }
done
[ "$drift" = 0 ] || exit 1

mkdir -p "$tmp/render"
for k in base overlays/namespaced; do
  echo "kubectl kustomize manifests/$k"
  kubectl kustomize "manifests/$k" > "$tmp/render/kustomize-${k//\//-}.yaml"
done

# Helm: no `helm` binary is available from Debian or PyPI; helm-python-sdk bundles Helm's Go SDK
# (the code behind `helm lint` and `helm template`) as a shared library and renders offline.
if ! python3 -c 'import helm_python' 2>/dev/null; then
  echo "installing helm-python-sdk (hack/requirements-test.txt)"
  python3 -m pip install -q --disable-pip-version-check "$(grep -E '^helm-python-sdk' hack/requirements-test.txt)"
fi

cat > "$tmp/install_check.py" <<'PYCHECK'
"""Checks the Helm chart and the kustomize renderings; writes what the dev API server can take."""
import copy, glob, json, os, re, sys
import yaml
from kubernetes import client as k8s

out = sys.argv[1]
errors = []


def err(msg):
    errors.append(msg)


class Loader(yaml.SafeLoader):
    """YAML 1.2 floats: kubectl kustomize writes 1e-06, which PyYAML (YAML 1.1) reads as a string."""


Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def docs(text, source):
    return [d for d in yaml.load_all(text, Loader=Loader) if d is not None]


# sextant-controller's flags, from its ArgumentParser declarations.
main = open("Sources/sextant-controller/main.swift").read()
flags = {"--" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
         for name in re.findall(r"@(?:Option|Flag)\([^\n]*\)\s*\n\s*var (\w+)", main)}
if "--prometheus-url" not in flags or "--leader-elect" not in flags:
    sys.exit(f"could not read the flags of Sources/sextant-controller/main.swift (found {sorted(flags)})")


# Structure of built-in kinds, against the models of the official Python client: no unknown
# field, the right JSON types, required fields present.
def model_check(value, typ, path):
    if value is None:
        return
    m = re.fullmatch(r"(?:List|list)\[(.*)\]", typ)
    if m:
        if not isinstance(value, list):
            return err(f"{path}: expected a list, got {type(value).__name__}")
        for i, v in enumerate(value):
            model_check(v, m.group(1), f"{path}[{i}]")
        return
    m = re.fullmatch(r"(?:Dict\[str, (.*)\]|dict\(str, (.*)\))", typ)
    if m:
        if not isinstance(value, dict):
            return err(f"{path}: expected a map, got {type(value).__name__}")
        for k, v in value.items():
            model_check(v, m.group(1) or m.group(2), f"{path}.{k}")
        return
    simple = {"str": str, "bool": bool, "int": int, "float": (int, float)}
    if typ in simple:
        if not isinstance(value, simple[typ]) or (typ in ("int", "float") and isinstance(value, bool)):
            err(f"{path}: expected {typ}, got {value!r}")
        return
    if typ in ("object", "datetime", "date"):
        return
    cls = getattr(k8s, typ, None)
    if cls is None:
        return err(f"{path}: no model {typ} in the kubernetes client")
    if not isinstance(value, dict):
        return err(f"{path}: expected an object ({typ}), got {value!r}")
    fields = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for k, v in value.items():
        if k not in fields:
            err(f"{path}.{k}: unknown field of {typ}")
        else:
            model_check(v, cls.openapi_types[fields[k]], f"{path}.{k}")


def structure(obj, where):
    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = (obj.get("metadata") or {}).get("name")
    if not api or not kind or not name:
        return err(f"{where}: an object without apiVersion, kind or metadata.name")
    if api.startswith("monitoring.coreos.com/"):
        return  # prometheus-operator kinds: the client has no model for them
    typ = api.split("/")[-1].capitalize() + kind
    if getattr(k8s, typ, None) is None:
        return err(f"{where}: {api} {kind} is not a kind the kubernetes client knows")
    model_check(obj, typ, f"{where} {kind}/{name}")
    try:  # the models' constructors refuse missing required fields
        k8s.ApiClient()._ApiClient__deserialize(copy.deepcopy(obj), typ)
    except (ValueError, TypeError) as e:
        err(f"{where} {kind}/{name}: {e}")


def key(o):
    return (o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"])


# References between the objects, and what sextant-controller needs.
def references(objs, where, watch_namespace=None):
    by = {key(o): o for o in objs}
    # Secure metrics serving (docs/monitoring.md): the controller creates TokenReviews and
    # SubjectAccessReviews (cluster-scoped, so a ClusterRole in namespaced mode too); scrapers
    # are bound to a ClusterRole allowing GET /metrics and nothing else.
    review_rules = [{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}]
    metrics_auth = [r for r in objs if r["kind"] == "ClusterRole" and r.get("rules") == review_rules]
    metrics_readers = [r for r in objs if r["kind"] == "ClusterRole"
                       and r.get("rules") == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]]
    metrics_objs = metrics_auth + metrics_readers + [
        b for b in objs if b["kind"] == "ClusterRoleBinding"
        and by.get(("ClusterRole", "", b["roleRef"]["name"])) in metrics_auth + metrics_readers]
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    if len(deployments) != 1:
        return err(f"{where}: expected one Deployment, found {len(deployments)}")
    d = deployments[0]
    ns = d["metadata"].get("namespace") or ""
    if not ns:
        err(f"{where}: the Deployment has no namespace")
    pod = d["spec"]["template"]
    labels = pod["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in d["spec"]["selector"]["matchLabels"].items()):
        err(f"{where}: the Deployment's selector does not match its pod template")
    spec = pod["spec"]
    c = next((c for c in spec["containers"] if c["name"] == "controller"), None)
    if c is None:
        return err(f"{where}: no container named controller")
    args = c.get("args") or []
    for a in args:
        if a.startswith("--") and a.split("=")[0] not in flags:
            err(f"{where}: argument {a} is not a flag of sextant-controller (Sources/sextant-controller/main.swift)")
    values = dict(a.split("=", 1) for a in args if a.startswith("--") and "=" in a)
    metrics_port = int(values.get("--metrics-bind-address", ":8443").rsplit(":", 1)[1])
    probe_port = int(values.get("--health-probe-bind-address", ":8081").rsplit(":", 1)[1])
    replicas = d["spec"].get("replicas", 1)
    if replicas > 1 and values.get("--leader-elect", "true") != "true":
        err(f"{where}: {replicas} replicas without leader election")
    if values.get("--namespace") != watch_namespace:
        err(f"{where}: --namespace is {values.get('--namespace')!r}, expected {watch_namespace!r}")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or ports.get(get.get("port"), get.get("port")) != probe_port:
            err(f"{where}: {probe} is not GET {path} on the health probe port {probe_port}")
    if ports.get("metrics") != metrics_port:
        err(f"{where}: container port 'metrics' is not --metrics-bind-address's port {metrics_port}")
    sc, psc = c.get("securityContext") or {}, spec.get("securityContext") or {}
    if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
            and (sc.get("runAsNonRoot") or psc.get("runAsNonRoot"))
            and "ALL" in ((sc.get("capabilities") or {}).get("drop") or [])
            and (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"):
        err(f"{where}: the controller's securityContext is not restricted "
            "(non-root, read-only root, no privilege escalation, drop ALL, seccomp RuntimeDefault)")
    sa = spec.get("serviceAccountName")
    if ("ServiceAccount", ns, sa) not in by:
        err(f"{where}: ServiceAccount {ns}/{sa} is not part of the install")
    for o in objs:
        name = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] in ("Service", "PodDisruptionBudget"):
            sel = o["spec"].get("selector") or {}
            sel = sel.get("matchLabels", sel)
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                err(f"{where}: {name} does not select the controller's pods")
        if o["kind"] == "Service":
            for p in o["spec"]["ports"]:
                if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
                    err(f"{where}: {name} port {p.get('name')} targets no container port")
        if o["kind"] == "ServiceMonitor":
            svc = [s for s in objs if s["kind"] == "Service"
                   and all(s["metadata"].get("labels", {}).get(k) == v for k, v in o["spec"]["selector"]["matchLabels"].items())]
            if not svc or not all(any(p.get("name") == e.get("port") for s in svc for p in s["spec"]["ports"])
                                  for e in o["spec"]["endpoints"]):
                err(f"{where}: {name} selects no Service port of the install")
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            ref = o["roleRef"]
            rns = "" if ref["kind"] == "ClusterRole" else o["metadata"].get("namespace", "")
            if (ref["kind"], rns, ref["name"]) not in by:
                err(f"{where}: {name} refers to a missing {ref['kind']} {ref['name']}")
            if by.get((ref["kind"], rns, ref["name"])) in metrics_readers:
                continue  # binds the scrapers (metrics.readerSubjects), not the controller
            for s in o.get("subjects", []):
                if s["kind"] != "ServiceAccount" or (s["name"], s.get("namespace")) != (sa, ns):
                    err(f"{where}: {name} binds {s.get('namespace')}/{s['name']}, not the controller's ServiceAccount")
    lease_roles = [r for r in objs if r["kind"] == "Role" and r["metadata"].get("namespace") == ns
                   and any("leases" in (rule.get("resources") or []) for rule in r.get("rules", []))]
    if values.get("--leader-elect", "true") == "true" and not lease_roles:
        err(f"{where}: no Role for leases in the controller's namespace {ns}")
    # The ClusterRoles aggregated into view/edit/admin are the users', bound by nobody here
    # (hack/check-chart.py evaluates them).
    aggregated = [r for r in objs if r["kind"] == "ClusterRole"
                  and any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in r["metadata"].get("labels", {}))]
    rules = [r for r in objs if r["kind"] in ("Role", "ClusterRole") and r not in lease_roles and r not in aggregated
             and r not in metrics_objs]
    if watch_namespace and any(r["kind"] == "ClusterRole" or r["metadata"].get("namespace") != watch_namespace for r in rules):
        err(f"{where}: in namespaced mode the controllers' rules must be a Role in {watch_namespace} only")
    if any(o["kind"].startswith("Cluster") and o not in aggregated and o not in metrics_objs for o in objs) and watch_namespace:
        err(f"{where}: cluster-wide RBAC for the controller in namespaced mode")
    secure = values.get("--metrics-secure", "true") == "true" and metrics_port != 0
    bound = any(b["kind"] == "ClusterRoleBinding" and by.get(("ClusterRole", "", b["roleRef"]["name"])) in metrics_auth
                and any(s["kind"] == "ServiceAccount" and (s["name"], s.get("namespace")) == (sa, ns) for s in b.get("subjects", []))
                for b in objs)
    if secure and not bound and any(o["kind"].endswith("Role") for o in objs):
        err(f"{where}: --metrics-secure needs a ClusterRole creating tokenreviews and subjectaccessreviews bound to {ns}/{sa}")
    if secure and not metrics_readers and any(o["kind"].endswith("Role") for o in objs):
        err(f"{where}: --metrics-secure without a metrics-reader ClusterRole (nonResourceURLs /metrics, get)")
    if not secure and (metrics_auth or metrics_readers):
        err(f"{where}: metrics ClusterRoles rendered although /metrics is plain HTTP")


def normalize(o):
    o = copy.deepcopy(o)

    def strip(v):
        if isinstance(v, dict):
            for k in ("helm.sh/chart", "app.kubernetes.io/managed-by"):
                v.pop(k, None)
            for x in v.values():
                strip(x)
        elif isinstance(v, list):
            for x in v:
                strip(x)
    strip(o)
    for c in o.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []:
        c["args"] = sorted(c.get("args") or [])
    return o


def compare(chart_objs, kustomize_objs, where):
    h = {key(o): normalize(o) for o in chart_objs if o["kind"] != "CustomResourceDefinition"}
    k = {key(o): normalize(o) for o in kustomize_objs if o["kind"] not in ("Namespace", "CustomResourceDefinition")}
    for missing in sorted(set(h) - set(k)):
        err(f"{where}: {missing} is rendered by the chart but not by kustomize")
    for extra in sorted(set(k) - set(h)):
        err(f"{where}: {extra} is rendered by kustomize but not by the chart")
    for kk in sorted(set(h) & set(k)):
        if h[kk] != k[kk]:
            path, a, b = first_difference(h[kk], k[kk])
            err(f"{where}: {kk} differs at {path}:\n  chart:     {json.dumps(a, sort_keys=True)}\n"
                f"  kustomize: {json.dumps(b, sort_keys=True)}")


def first_difference(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return path or ".", a, b


def crds_equal(objs, where, keep=False):
    want = {}
    for f in sorted(glob.glob("crds/*.yaml")):
        for d in docs(open(f).read(), f):
            if keep:  # the chart's templated CRDs carry helm.sh/resource-policy: keep
                d["metadata"]["annotations"] = {"helm.sh/resource-policy": "keep"}
            want[d["metadata"]["name"]] = d
    got = {o["metadata"]["name"]: o for o in objs if o["kind"] == "CustomResourceDefinition"}
    if got != want:
        err(f"{where}: the CRDs differ from crds/ ({sorted(got)} vs {sorted(want)})")


# kustomize
base = docs(open(os.path.join(out, "kustomize-base.yaml")).read(), "base")
namespaced = docs(open(os.path.join(out, "kustomize-overlays-namespaced.yaml")).read(), "namespaced")
for objs, where, watch in ((base, "kustomize base", None), (namespaced, "kustomize overlays/namespaced", "ml-team")):
    print(f"  {where}: {len(objs)} objects")
    for o in objs:
        structure(o, where)
    references(objs, where, watch)
    crds_equal(objs, where)

# Helm
import helm_python as helm

chart = "charts/sextant"
print(f"  Helm SDK {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__})")


def render(values, release="sextant", namespace="sextant-system"):
    with helm.Chart.load(chart) as c:
        files = c.render(values, name=release, namespace=namespace, is_install=True)
    return [o for path, text in sorted(files.items()) if path.endswith(".yaml") for o in docs(text, path)]


ci_values = {os.path.basename(p): yaml.safe_load(open(p)) or {} for p in sorted(glob.glob(f"{chart}/ci/*-values.yaml"))}
for name, values in [("defaults", {})] + list(ci_values.items()):
    report = helm.lint(chart, values, strict=True, kube_version="v1.27.0")
    for m in report.get("messages", []):
        if m.get("severity", 0) >= 2:
            err(f"helm lint --strict ({name}): {m.get('path')}: {m.get('error')}")
    for e in report.get("errors", []):
        err(f"helm lint --strict ({name}): {e}")
    objs = render(values)
    where = f"helm template ({name})"
    print(f"  helm lint --strict, {where}: {len(objs)} objects")
    for o in objs:
        structure(o, where)
    references(objs, where, values.get("watchNamespace") or None)
    if (values.get("crds") or {}).get("install", True):
        crds_equal(objs, where, keep=(values.get("crds") or {}).get("keep", True))
    dep = next((o for o in objs if o["kind"] == "Deployment"), None)
    if dep and any(o["kind"] == "PodDisruptionBudget" for o in objs) != (dep["spec"]["replicas"] > 1):
        err(f"{where}: a PodDisruptionBudget must exist exactly when replicas > 1")

# MLflow values only once sextant-controller has the flag.
if "--mlflow-tracking-uri" in flags:
    mlflow = {"mlflow": {"trackingUri": "http://mlflow.mlflow.svc:5000", "existingSecret": "mlflow-credentials"},
              "extraEnv": [{"name": "TZ", "value": "UTC"}]}
    objs = render(mlflow)
    for o in objs:
        structure(o, "helm template (mlflow)")
    references(objs, "helm template (mlflow)")
    print(f"  helm template (mlflow): {len(objs)} objects")
else:
    print("  not checked: mlflow.* values (Sources/sextant-controller/main.swift has no --mlflow-tracking-uri)")

# Values the chart must refuse.
for values, why in (({"replicaCount": 2, "leaderElection": {"enabled": False}}, "two replicas without leader election"),
                    ({"serviceAccount": {"create": False}}, "serviceAccount.create=false without a name")):
    try:
        render(values)
        err(f"helm template accepted {why}")
    except helm.HelmError:
        pass

# The chart with default values and the kustomize base install the same objects (labels of the
# tool aside); the same for namespaced mode.
compare(render({}), base, "chart vs kustomize base")
compare(render({"watchNamespace": "ml-team"}), namespaced, "chart (watchNamespace=ml-team) vs kustomize overlays/namespaced")

# For the development API server: the kinds it serves, of the kustomize base and of the chart
# with every option on (in namespace sextant-helm).
served = {"Namespace", "CustomResourceDefinition", "ServiceAccount", "Service", "Deployment", "ConfigMap", "Secret",
          "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "PodDisruptionBudget"}
skipped = set()
helm_objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sextant-helm"}}] \
    + render(ci_values.get("monitoring-values.yaml", {}), namespace="sextant-helm")
for name, objs in (("apply-kustomize.yaml", base), ("apply-helm.yaml", helm_objs)):
    keep = [o for o in objs if o["kind"] in served]
    skipped |= {o["kind"] for o in objs if o["kind"] not in served}
    keep.sort(key=lambda o: (o["kind"] != "Namespace", o["kind"] != "CustomResourceDefinition"))
    with open(os.path.join(out, name), "w") as f:
        yaml.safe_dump_all(keep, f)
with open(os.path.join(out, "not-applied.txt"), "w") as f:
    f.write(", ".join(sorted(skipped)))

if errors:
    print("\n".join("error: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
PYCHECK

echo "chart and kustomize renderings: structure, references, controller flags, chart == kustomize"
python3 "$tmp/install_check.py" "$tmp/render"

echo "chart conventions: values schema (typos refused by helm lint), aggregated roles (RBAC evaluated), CRD templates, extras"
python3 hack/check-chart.py

echo "alerts and Grafana dashboards: metric names derived from Sources/, promtool check rules, promtool test rules"
python3 hack/check-monitoring.py

# Apply what the development API server serves (docs/dev-apiserver.md) with the real kubectl.
SEXTANT_BIN="${SEXTANT_BIN:-.build/debug/sextant}"
if [ ! -x "$SEXTANT_BIN" ]; then
  echo "error: $SEXTANT_BIN is not built (swift build --product sextant, or set SEXTANT_BIN): the install and the CRD upgrade path are not checked without it" >&2
  exit 1
else
  echo "kubectl apply: kustomize base and chart to the development API server (not served there, so not applied: $(cat "$tmp/render/not-applied.txt"))"
  "$SEXTANT_BIN" dev apiserver --listen 127.0.0.1:0 --kubeconfig-out "$tmp/kubeconfig" > "$tmp/apiserver.log" 2>&1 &
  apiserver=$!
  trap 'kill "$apiserver" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  export KUBECONFIG="$tmp/kubeconfig"
  for _ in $(seq 1 150); do
    [ -s "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break
    kill -0 "$apiserver" 2>/dev/null || { echo "error: the development API server exited" >&2; cat "$tmp/apiserver.log" >&2; exit 1; }
    sleep 0.2
  done
  kubectl get --raw /readyz >/dev/null || { echo "error: the development API server did not start" >&2; cat "$tmp/apiserver.log" >&2; exit 1; }
  for f in apply-kustomize apply-helm; do
    # Namespaces and CRDs come first in the file; should a kind not be known yet on the first
    # pass, the second (after the CRDs are established) must apply everything.
    if ! kubectl apply -f "$tmp/render/$f.yaml" > "$tmp/$f.out" 2>&1; then
      kubectl wait --for condition=established --timeout=30s crd --all >/dev/null
      kubectl apply -f "$tmp/render/$f.yaml" > "$tmp/$f.out"
    fi
    sed 's/^/  /' "$tmp/$f.out"
  done
  replicas="$(kubectl -n sextant-system get deployment sextant-controller -o jsonpath='{.spec.replicas}')"
  [ "$replicas" = 2 ] || { echo "error: sextant-system/sextant-controller has '$replicas' replicas, expected 2" >&2; exit 1; }
  kubectl -n sextant-helm get deployment/sextant-controller serviceaccount/sextant-controller \
      service/sextant-controller-metrics >/dev/null
  kubectl get crd trainingjobs.mlops.sextant.dev modelversions.mlops.sextant.dev canaryrollouts.mlops.sextant.dev >/dev/null
  # A fresh discovery cache: the one kubectl apply filled predates the CRDs.
  kubectl get --cache-dir "$tmp/kube-cache" sextant -A >/dev/null 2>"$tmp/get.err" || { cat "$tmp/get.err" >&2; exit 1; }
  kill "$apiserver"
  wait "$apiserver" 2>/dev/null || true

  echo "CRD upgrade path (docs/install.md, Upgrading): helm install/upgrade/uninstall (Helm's SDK) on a fresh development API server"
  python3 hack/check-chart-upgrade.py "$SEXTANT_BIN"
fi

echo "ok"
