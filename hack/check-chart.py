#!/usr/bin/env python3
"""The chart's conventions (docs/install.md, "What CI checks"), with Helm's own engine.

- values.schema.json: a JSON Schema draft 7 document (check-jsonschema --check-metaschema); the
  defaults and every ci/*-values.yaml satisfy it; every value of values.yaml is described by it
  and named in docs/install.md; every file of hack/chart-testdata/invalid-values/ (misspelled keys,
  wrong types) is refused by `helm lint` and by `helm template` (Helm's Go SDK through
  helm-python-sdk) and by the jsonschema package, each naming the offending key.
- Aggregated ClusterRoles: the built-in view/edit/admin roles are aggregated the way Kubernetes'
  aggregation controller does it (their aggregationRule selectors and labels, from the
  bootstrap policy), and the rules are evaluated the way the RBAC authorizer matches them: a user
  bound to edit (or admin) can send every manual request the CLI sends (derived from
  Sources/SextantDashboard/StatusRequests.swift) and write the three kinds; one bound to view can read them
  and nothing else.
- Anti-affinity preset, CRDs as templates with the keep policy, extra volumes/containers,
  extraObjects, ServiceMonitor/PodMonitor relabelings: rendered as documented.

Usage: hack/check-chart.py   (from the repository root; hack/validate-manifests.sh runs it)
"""
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import helm_python as helm
import jsonschema
import yaml

CHART = "charts/sextant"
errors = []


def err(msg):
    errors.append(msg)


class Loader(yaml.SafeLoader):
    """YAML 1.2 floats (Helm writes 1e-06, which PyYAML's YAML 1.1 reads as a string)."""


Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def render(values, namespace="sextant-system", release="sextant"):
    with helm.Chart.load(CHART) as c:
        files = c.render(values, name=release, namespace=namespace, is_install=True)
    return [o for path, text in sorted(files.items()) if path.endswith(".yaml")
            for o in yaml.load_all(text, Loader=Loader) if o is not None]


# ---------------------------------------------------------------------------------------------
# values.schema.json

schema_path = f"{CHART}/values.schema.json"
schema = json.load(open(schema_path))
if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
    err(f"{schema_path}: $schema is {schema.get('$schema')!r}, expected draft 7 (what Helm documents)")
meta = subprocess.run(["check-jsonschema", "--check-metaschema", schema_path], capture_output=True, text=True)
if meta.returncode != 0:
    err(f"{schema_path} is not a valid JSON Schema:\n{meta.stdout}{meta.stderr}")
validator = jsonschema.Draft7Validator(schema)
defaults = yaml.safe_load(open(f"{CHART}/values.yaml"))


def merged(values):
    """What Helm validates: the chart's defaults with the user's values merged in (null deletes)."""
    out = copy.deepcopy(defaults)

    def merge(dst, src):
        for k, v in src.items():
            if v is None:
                dst.pop(k, None)
            elif isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v)
            else:
                dst[k] = v
    merge(out, values)
    return out


for name, values in [("values.yaml", {})] + [(os.path.relpath(p, CHART), yaml.safe_load(open(p)) or {})
                                             for p in sorted(glob.glob(f"{CHART}/ci/*-values.yaml"))]:
    for e in validator.iter_errors(merged(values)):
        err(f"{name} does not satisfy values.schema.json at /{'/'.join(map(str, e.path))}: {e.message}")


def schema_walk(value, node, path):
    """Every value of values.yaml must be described by the schema (not fall through a free-form map)."""
    if not isinstance(value, dict) or node.get("type") != "object":
        return
    props = node.get("properties")
    if props is None:
        return  # free-form (labels, affinity, ...)
    for k, v in value.items():
        if k not in props:
            err(f"values.schema.json does not describe {path}{k}")
        else:
            schema_walk(v, props[k], f"{path}{k}.")
    if node.get("additionalProperties") is not False:
        err(f"values.schema.json: {path or 'the top level'} allows unknown keys (additionalProperties is not false)")


schema_walk(defaults, schema, "")
docs = open("docs/install.md").read()
values_table = docs.split("## Values", 1)[1].split("\n## ", 1)[0] if "## Values" in docs else ""
documented = set()
for row in re.findall(r"^\| ([^|]+) \|", values_table, re.M):
    parent = ""
    for item in re.findall(r"`([^`]+)`", row):
        if item.startswith("."):
            documented.add(parent + item)
        else:
            documented.add(item)
            parent = item.rsplit(".", 1)[0] if "." in item else item


def values_paths(value, path=""):
    for k, v in value.items():
        p = f"{path}{k}"
        yield p
        if isinstance(v, dict) and v:
            yield from values_paths(v, p + ".")


for path in values_paths(defaults):
    parts = path.split(".")
    if not any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)) \
            and not any(d.startswith(path + ".") for d in documented):
        err(f"docs/install.md (Values) does not describe the value {path}")

# The typo test: each file is refused by helm lint and helm template, naming the offending key.
invalid = sorted(glob.glob("hack/chart-testdata/invalid-values/*.yaml"))
if len(invalid) < 3:
    err("hack/chart-testdata/invalid-values/ should hold the typo cases (found fewer than 3 files)")
for path in invalid:
    text = open(path).read()
    expect = re.search(r"^# expect: (.+)$", text, re.M)
    where = re.search(r"^# at: (\S*)$", text, re.M)
    if not expect or not where:
        err(f"{path}: needs '# expect: <text of Helm's error>' and '# at: <JSON pointer>' lines")
        continue
    expect, where = expect.group(1).strip(), where.group(1)
    values = yaml.safe_load(text) or {}
    report = helm.lint(CHART, values, strict=True, kube_version="v1.27.0")
    lint_errors = "\n".join(report.get("errors", []))
    if expect not in lint_errors:
        err(f"helm lint accepted {path} (expected an error containing {expect!r}; got {lint_errors or 'no error'!r})")
    try:
        render(values)
        err(f"helm template accepted {path}")
    except helm.HelmValuesError as e:
        if expect not in str(e):
            err(f"helm template refused {path}, but not for {expect!r}: {e}")
    found = ["/" + "/".join(map(str, e.path)) for e in validator.iter_errors(merged(values))]
    if where not in found:
        err(f"jsonschema does not refuse {path} at {where} (errors at {found})")
print(f"  values.schema.json: draft 7, defaults and {len(glob.glob(f'{CHART}/ci/*-values.yaml'))} ci value sets valid, "
      f"{len(invalid)} invalid value files refused by helm lint, helm template and jsonschema")

# ---------------------------------------------------------------------------------------------
# RBAC: the built-in roles' aggregation and the authorizer's rule matching.

# Kubernetes' bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go): admin
# aggregates aggregate-to-admin; edit aggregates aggregate-to-edit and is itself labelled
# aggregate-to-admin; view aggregates aggregate-to-view and is labelled aggregate-to-edit. Their
# own rules (the system:aggregate-to-* roles) grant nothing in mlops.sextant.dev.
AGG = "rbac.authorization.k8s.io/aggregate-to-"
BUILTIN = {
    "admin": {"labels": {}, "selector": {AGG + "admin": "true"}},
    "edit": {"labels": {AGG + "admin": "true"}, "selector": {AGG + "edit": "true"}},
    "view": {"labels": {AGG + "edit": "true"}, "selector": {AGG + "view": "true"}},
}


def aggregate(cluster_roles):
    """The rules of view/edit/admin after the aggregation controller settled (to a fixpoint)."""
    roles = {r["metadata"]["name"]: {"labels": r["metadata"].get("labels") or {}, "rules": r.get("rules") or []}
             for r in cluster_roles}
    for name, b in BUILTIN.items():
        roles[name] = {"labels": b["labels"], "rules": [], "selector": b["selector"]}
    changed = True
    while changed:
        changed = False
        for name, role in roles.items():
            sel = role.get("selector")
            if not sel:
                continue
            rules = []
            for other_name, other in sorted(roles.items()):
                if other_name != name and all(other["labels"].get(k) == v for k, v in sel.items()):
                    rules += [r for r in other["rules"] if r not in rules]
            if rules != role["rules"]:
                role["rules"], changed = rules, True
    return {n: roles[n]["rules"] for n in BUILTIN}


def allows(rules, verb, group, resource, name=None):
    """rbac.RuleAllows: verb, API group and resource (with "*" and "*/subresource") match."""
    for r in rules:
        if r.get("nonResourceURLs"):
            continue
        if not ("*" in r.get("verbs", []) or verb in r.get("verbs", [])):
            continue
        if not ("*" in r.get("apiGroups", []) or group in r.get("apiGroups", [])):
            continue
        res = r.get("resources", [])
        sub = resource.split("/", 1)[1] if "/" in resource else None
        if not ("*" in res or resource in res or (sub and "*/" + sub in res)):
            continue
        if r.get("resourceNames") and name not in r["resourceNames"]:
            continue
        return True
    return False


# What each manual request needs, from its one definition (shared by the CLI and the dashboard's
# buttons): the object is read, then its status subresource merge-patched.
REQUESTS = "Sources/SextantDashboard/StatusRequests.swift"
requests_src = open(REQUESTS).read()
# `public static let promote = StatusRequestVerb(verb: "promote", descriptor: ResourceDescriptor(CanaryRollout.self), ...)`
verbs = re.findall(r'static let \w+ = StatusRequestVerb\(verb: "(\w+)", descriptor: ResourceDescriptor\((\w+)\.self\)',
                   requests_src)
plural_of = {}
for f in glob.glob("crds/*.yaml"):
    crd = yaml.load(open(f), Loader=Loader)
    plural_of[crd["spec"]["names"]["kind"]] = crd["spec"]["names"]["plural"]
send = requests_src.split("func send", 1)[1].split("\n    }\n", 1)[0] if "func send" in requests_src else ""
calls = []
if re.search(r"client\.get\(", send):
    calls.append(("get", ""))
if re.search(r"client\.patch\([^)]*subresource: \"status\"", send, re.S) or \
        re.search(r"client\.patch\(.*?subresource: \"status\"", send, re.S):
    calls.append(("patch", "/status"))
elif re.search(r"client\.patch\(", send):
    calls.append(("patch", ""))
if not calls or len(verbs) < 6 or any(kind not in plural_of for _, kind in verbs):
    err(f"could not read the manual requests' API calls from {REQUESTS} (calls {calls}, verbs {verbs})")
needs = {verb: [(v, plural_of[kind] + sub) for v, sub in calls] for verb, kind in verbs if kind in plural_of}
GROUP = "mlops.sextant.dev"
three = sorted(plural_of.values())

for mode, values in (("cluster-wide", {}), ("namespaced", {"watchNamespace": "ml-team"})):
    objs = render(values)
    agg = [o for o in objs if o["kind"] == "ClusterRole" and any(k.startswith(AGG) for k in o["metadata"].get("labels", {}))]
    if len(agg) != 3:
        err(f"{mode}: expected 3 aggregated ClusterRoles (view, edit, admin), found {[o['metadata']['name'] for o in agg]}")
    for o in agg:
        for r in o.get("rules", []):
            if r.get("apiGroups") != [GROUP] or "*" in r.get("verbs", []) or "*" in r.get("resources", []):
                err(f"{mode}: {o['metadata']['name']} grants more than explicit verbs on {GROUP}: {r}")
    roles = aggregate([o for o in objs if o["kind"] == "ClusterRole"])
    for role in ("view", "edit", "admin"):
        for res in three:
            for verb in ("get", "list", "watch"):
                if not allows(roles[role], verb, GROUP, res):
                    err(f"{mode}: a user bound to {role} cannot {verb} {res}")
    for role in ("edit", "admin"):
        for command, calls_needed in needs.items():
            for verb, res in calls_needed:
                if not allows(roles[role], verb, GROUP, res):
                    err(f"{mode}: a user bound to {role} cannot `sextant {command}` ({verb} {res})")
        for res in three:
            for verb in ("create", "update", "patch", "delete"):
                if not allows(roles[role], verb, GROUP, res):
                    err(f"{mode}: a user bound to {role} cannot {verb} {res}")
    for command, calls_needed in needs.items():
        if all(allows(roles["view"], v, GROUP, r) for v, r in calls_needed):
            err(f"{mode}: a user bound to view can `sextant {command}`")
    for res in three:
        for verb in ("create", "update", "patch", "delete", "deletecollection"):
            for sub in ("", "/status"):
                if allows(roles["view"], verb, GROUP, res + sub):
                    err(f"{mode}: a user bound to view can {verb} {res}{sub}")
    if not allows(roles["edit"], "patch", GROUP, "modelversions/status") or allows(roles["view"], "patch", GROUP, "modelversions/status"):
        err(f"{mode}: approve (patch modelversions/status) must be allowed to edit and refused to view")

# The evaluator itself must be able to say no: without the aggregated roles, edit cannot approve.
roles = aggregate([o for o in render({"rbac": {"aggregateToDefaultRoles": False}}) if o["kind"] == "ClusterRole"])
if allows(roles["edit"], "patch", GROUP, "modelversions/status") or allows(roles["view"], "get", GROUP, "modelversions"):
    err("rbac.aggregateToDefaultRoles=false still lets edit approve or view read ModelVersions")
print(f"  RBAC: edit and admin can run {', '.join(sorted(needs))} and write {', '.join(three)}; view reads them only "
      f"(aggregation of the built-in roles evaluated; both modes)")

# ---------------------------------------------------------------------------------------------
# Scheduling, CRDs, extras.


def deployment(objs):
    return next(o for o in objs if o["kind"] == "Deployment")


sel = deployment(render({}))["spec"]["selector"]["matchLabels"]
aff = deployment(render({}))["spec"]["template"]["spec"].get("affinity") or {}
pref = (aff.get("podAntiAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution") or []
if not pref or pref[0]["podAffinityTerm"].get("topologyKey") != "kubernetes.io/hostname" \
        or pref[0]["podAffinityTerm"]["labelSelector"].get("matchLabels") != sel:
    err(f"default values: no preferred pod anti-affinity on kubernetes.io/hostname selecting the controller's Pods: {aff}")
hard = deployment(render({"podAntiAffinityPreset": "hard"}))["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
if "requiredDuringSchedulingIgnoredDuringExecution" not in hard:
    err("podAntiAffinityPreset=hard renders no required anti-affinity")
if "affinity" in deployment(render({"podAntiAffinityPreset": ""}))["spec"]["template"]["spec"]:
    err("podAntiAffinityPreset='' still renders an affinity")
own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["system"]}]}]}}}
if deployment(render({"affinity": own}))["spec"]["template"]["spec"]["affinity"] != own:
    err("a set `affinity` does not replace the preset")

crd_files = {}
for f in sorted(glob.glob("crds/*.yaml")):
    d = yaml.load(open(f), Loader=Loader)
    crd_files[d["metadata"]["name"]] = d
for values, keep in (({}, True), ({"crds": {"keep": False}}, False),
                     ({"crds": {"annotations": {"example.com/owner": "platform"}}}, True)):
    got = {o["metadata"]["name"]: copy.deepcopy(o) for o in render(values) if o["kind"] == "CustomResourceDefinition"}
    if set(got) != set(crd_files):
        err(f"crds {values}: rendered CRDs {sorted(got)}, expected {sorted(crd_files)}")
    for name, o in got.items():
        ann = o["metadata"].pop("annotations", {}) or {}
        if (ann.get("helm.sh/resource-policy") == "keep") != keep:
            err(f"crds {values}: {name} has annotations {ann}; keep policy expected: {keep}")
        for k, v in (values.get("crds", {}).get("annotations") or {}).items():
            if ann.get(k) != v:
                err(f"crds {values}: {name} lacks the annotation {k}={v}")
        if o != crd_files.get(name):
            err(f"crds {values}: the templated {name} differs from crds/ (apart from annotations)")
if any(o["kind"] == "CustomResourceDefinition" for o in render({"crds": {"install": False}})):
    err("crds.install=false still renders CRDs")
if os.path.isdir(f"{CHART}/crds"):
    err(f"{CHART}/crds/ exists: Helm would install those CRDs before the templated ones and fail on the duplicates")

extras = {
    "extraVolumes": [{"name": "ca", "configMap": {"name": "prometheus-ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/prometheus-ca", "readOnly": True}],
    "extraContainers": [{"name": "proxy", "image": "registry.example.com/proxy:1"}],
    "initContainers": [{"name": "wait", "image": "registry.example.com/wait:1"}],
    "extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "{{ .Release.Name }}-extra", "namespace": "{{ .Release.Namespace }}"}},
                     "apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra-secret\n  namespace: {{ .Release.Namespace }}\n"],
    "metrics": {"serviceMonitor": {"enabled": True, "relabelings": [{"action": "replace", "targetLabel": "cluster", "replacement": "prod"}],
                                   "metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"], "regex": "sextant_workqueue_.*"}]}},
    "modelServerPodMonitor": {"enabled": True, "relabelings": [{"action": "replace", "targetLabel": "cluster", "replacement": "prod"}],
                              "metricRelabelings": [{"action": "drop", "sourceLabels": ["__name__"], "regex": "sextant_prediction_score_bucket"}]},
}
objs = render(extras)
pod = deployment(objs)["spec"]["template"]["spec"]
ctl = next(c for c in pod["containers"] if c["name"] == "controller")
if extras["extraVolumes"][0] not in pod["volumes"] or extras["extraVolumeMounts"][0] not in ctl["volumeMounts"]:
    err("extraVolumes / extraVolumeMounts are not rendered into the Pod")
if {"name": "tmp", "mountPath": "/tmp"} not in ctl["volumeMounts"]:
    err("extraVolumeMounts replaced the /tmp mount")
if [c["name"] for c in pod["containers"]] != ["controller", "proxy"] or [c["name"] for c in pod.get("initContainers", [])] != ["wait"]:
    err("extraContainers / initContainers are not rendered into the Pod")
names = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objs}
if ("ConfigMap", "sextant-extra", "sextant-system") not in names or ("Secret", "extra-secret", "sextant-system") not in names:
    err(f"extraObjects (an object and a YAML string, both templated) are not rendered: {sorted(names)}")
sm = next(o for o in objs if o["kind"] == "ServiceMonitor")["spec"]["endpoints"][0]
if sm.get("relabelings") != extras["metrics"]["serviceMonitor"]["relabelings"] \
        or sm.get("metricRelabelings") != extras["metrics"]["serviceMonitor"]["metricRelabelings"] or sm.get("honorLabels") is not True:
    err(f"ServiceMonitor endpoint: relabelings, metricRelabelings or honorLabels missing: {sm}")
pm = next(o for o in objs if o["kind"] == "PodMonitor")["spec"]["podMetricsEndpoints"][0]
if pm.get("relabelings") != extras["modelServerPodMonitor"]["relabelings"] \
        or pm.get("metricRelabelings") != extras["modelServerPodMonitor"]["metricRelabelings"]:
    err(f"PodMonitor endpoint: relabelings or metricRelabelings missing: {pm}")

# The relabelings of every rendered ServiceMonitor/PodMonitor (ci/ value sets and the extras above),
# as the Prometheus relabel_configs prometheus-operator generates from them, through
# `promtool check config` (Prometheus' own config loader: actions, regexes, required fields).
def snake(v):
    if isinstance(v, dict):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(x) for k, x in v.items()}
    return [snake(x) for x in v] if isinstance(v, list) else v


scrape_configs = []
monitor_sets = [("extras", objs)] + [(os.path.basename(p), render(yaml.safe_load(open(p)) or {}))
                                     for p in sorted(glob.glob(f"{CHART}/ci/*-values.yaml"))]
for where, rendered in monitor_sets:
    for o in rendered:
        for e in (o.get("spec") or {}).get("endpoints", []) + (o.get("spec") or {}).get("podMetricsEndpoints", []):
            job = {"job_name": f"{where}-{o['kind']}-{len(scrape_configs)}", "static_configs": [{"targets": ["127.0.0.1:9"]}]}
            if e.get("relabelings"):
                job["relabel_configs"] = snake(e["relabelings"])
            if e.get("metricRelabelings"):
                job["metric_relabel_configs"] = snake(e["metricRelabelings"])
            if "relabel_configs" in job or "metric_relabel_configs" in job:
                scrape_configs.append(job)
if len(scrape_configs) < 3:
    err(f"expected relabelings in the extras and ci/monitoring-values.yaml renders, found {len(scrape_configs)} endpoints with any")
cfg_dir = tempfile.mkdtemp(prefix="sextant-relabel-")
with open(os.path.join(cfg_dir, "prometheus.yml"), "w") as f:
    yaml.safe_dump({"scrape_configs": scrape_configs}, f)
r = subprocess.run(["promtool", "check", "config", "--syntax-only", os.path.join(cfg_dir, "prometheus.yml")],
                   capture_output=True, text=True)
if r.returncode != 0:
    err(f"promtool check config refuses the rendered relabelings:\n{r.stdout}{r.stderr}")
shutil.rmtree(cfg_dir, ignore_errors=True)
print("  anti-affinity preset (soft default, hard, none, replaced by affinity), CRD templates (keep policy, "
      "install=false), extra volumes/mounts/containers, extraObjects, ServiceMonitor/PodMonitor relabelings: as documented; "
      f"{len(scrape_configs)} endpoints' relabelings pass promtool check config")

if errors:
    print("\n".join("error: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
