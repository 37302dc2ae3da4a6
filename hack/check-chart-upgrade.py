#!/usr/bin/env python3
"""The CRD upgrade path of docs/install.md ("Upgrading"), with Helm's own SDK (helm-python-sdk:
install, upgrade, uninstall as the helm CLI runs them) against the development API server.

1. A release of the chart as it was before the CRDs were templated (the same chart with
   files/crds/ moved back to crds/ and no templates/crds.yaml) is installed; a ModelVersion is
   created.
2. `helm upgrade` to the current chart, whose ModelVersion CRD differs (a printer column added
   here), is refused: Helm does not own CRDs it installed from crds/.
3. The commands of docs/install.md ("From a chart version that had crds/") are run as written.
4. The upgrade now succeeds: the changed CRD is served, it carries helm.sh/resource-policy: keep,
   and the ModelVersion is still there.
5. `helm uninstall` keeps the CRDs and the ModelVersion; a release with crds.keep=false, once
   uninstalled, takes the CRDs away (so the annotation is what kept them).

Only the kinds the development API server serves are installed (rbac.create=false, one replica).
Usage: hack/check-chart-upgrade.py SEXTANT_BIN   (hack/validate-manifests.sh runs it)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import helm_python as helm
import yaml

sextant = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/sextant"
if not os.access(sextant, os.X_OK):
    sys.exit(f"error: {sextant} is not built (swift build --product sextant)")
for tool in ("kubectl",):
    if not shutil.which(tool):
        sys.exit(f"error: {tool} is not installed")

tmp = tempfile.mkdtemp(prefix="sextant-chart-upgrade-")
kubeconfig = os.path.join(tmp, "kubeconfig")
log = open(os.path.join(tmp, "apiserver.log"), "w")
server = subprocess.Popen([sextant, "dev", "apiserver", "--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig],
                          stdout=log, stderr=subprocess.STDOUT)
env = dict(os.environ, KUBECONFIG=kubeconfig)
failures = []


def fail(msg):
    failures.append(msg)
    print("error: " + msg, file=sys.stderr)


def kubectl(*args, check=True):
    r = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r


def crd(name):
    r = kubectl("get", "crd", name, "-o", "yaml", check=False)
    return yaml.safe_load(r.stdout) if r.returncode == 0 else None


try:
    for _ in range(150):
        if os.path.exists(kubeconfig) and os.path.getsize(kubeconfig) > 0 \
                and kubectl("get", "--raw", "/readyz", check=False).returncode == 0:
            break
        if server.poll() is not None:
            raise RuntimeError("the development API server exited: " + open(log.name).read())
        time.sleep(0.2)
    else:
        raise RuntimeError("the development API server did not start")

    # The charts: "old" (CRDs in crds/), "new" (the chart as it is, with a changed ModelVersion CRD).
    old, new = os.path.join(tmp, "old", "sextant"), os.path.join(tmp, "new", "sextant")
    shutil.copytree("charts/sextant", old)
    shutil.copytree("charts/sextant", new)
    shutil.move(os.path.join(old, "files", "crds"), os.path.join(old, "crds"))
    os.remove(os.path.join(old, "templates", "crds.yaml"))
    mv_path = os.path.join(new, "files", "crds", "modelversions.yaml")
    mv_text = open(mv_path).read()
    column = "    - name: Upgraded\n      type: string\n      jsonPath: .spec.modelName\n"
    changed = re.sub(r"(\n    additionalPrinterColumns:\n)", lambda m: m.group(1) + column, mv_text, count=1)
    if changed == mv_text:
        raise RuntimeError(f"{mv_path}: no additionalPrinterColumns to add a column to")
    open(mv_path, "w").write(changed)

    values = {"rbac": {"create": False}, "replicaCount": 1, "leaderElection": {"enabled": False}}
    # Release records in memory (one Config for every step): Helm's Secret driver talks protobuf,
    # which the development API server refuses; the chart's objects go through JSON/apply.
    cfg = helm.Config(kubeconfig_path=kubeconfig, namespace="sextant-system", storage_driver="memory")
    with open(os.path.join(tmp, "namespace.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sextant-system\n")
    kubectl("apply", "-f", os.path.join(tmp, "namespace.yaml"))
    cfg.install(old, "sextant", values, namespace="sextant-system")
    before = crd("modelversions.mlops.sextant.dev")
    if not before:
        raise RuntimeError("the old chart did not install the CRDs from crds/")
    kubectl("wait", "--for", "condition=established", "--timeout=30s", "crd", "modelversions.mlops.sextant.dev")
    example = yaml.safe_load(open("manifests/examples/modelversion-registered.yaml"))
    example["metadata"]["namespace"] = "sextant-system"
    mv_name = example["metadata"]["name"]
    with open(os.path.join(tmp, "modelversion.yaml"), "w") as f:
        yaml.safe_dump(example, f)
    kubectl("apply", "-f", os.path.join(tmp, "modelversion.yaml"))
    print(f"  helm install (chart with crds/): CRDs installed, ModelVersion {mv_name} created")

    try:
        cfg.upgrade(new, "sextant", values, namespace="sextant-system")
        fail("helm upgrade took over CRDs that Helm installed from crds/ without the documented commands")
    except helm.HelmError as e:
        if "ownership" not in str(e) and "imported" not in str(e):
            fail(f"helm upgrade failed, but not for the CRDs' ownership: {e}")
        else:
            print(f"  helm upgrade before the documented commands: refused ({str(e).splitlines()[0][:110]}...)")

    # The commands of docs/install.md, as written (without the helm CLI line).
    docs = open("docs/install.md").read()
    m = re.search(r"\*\*From a chart version that had `crds/`\*\*.*?```sh\n(.*?)```", docs, re.S)
    if not m:
        raise RuntimeError("docs/install.md: no ```sh block after 'From a chart version that had `crds/`'")
    script = "\n".join(line for line in m.group(1).splitlines() if not line.startswith("helm "))
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"the documented commands failed: {r.stderr}")

    cfg.upgrade(new, "sextant", values, namespace="sextant-system")
    after = crd("modelversions.mlops.sextant.dev")
    cols = [c["name"] for c in after["spec"]["versions"][0].get("additionalPrinterColumns", [])]
    if "Upgraded" not in cols:
        fail(f"helm upgrade did not upgrade the ModelVersion CRD (columns {cols})")
    if after["metadata"].get("annotations", {}).get("helm.sh/resource-policy") != "keep":
        fail(f"the upgraded CRD has no keep policy: {after['metadata'].get('annotations')}")
    if kubectl("get", "-n", "sextant-system", "modelversion", mv_name, check=False).returncode != 0:
        fail("the ModelVersion is gone after the upgrade")
    printed = kubectl("get", "-n", "sextant-system", "modelversions").stdout
    if "UPGRADED" not in printed.splitlines()[0]:
        fail(f"kubectl get modelversions does not show the new column:\n{printed}")
    if not failures:
        print("  helm upgrade after the documented commands: the CRD is upgraded (new printer column served), "
              "kept by policy, the ModelVersion is still there")

    cfg.uninstall("sextant")
    if kubectl("get", "-n", "sextant-system", "deployment", "sextant-controller", check=False).returncode == 0:
        fail("helm uninstall left the Deployment")
    if not crd("modelversions.mlops.sextant.dev") or \
            kubectl("get", "-n", "sextant-system", "modelversion", mv_name, check=False).returncode != 0:
        fail("helm uninstall deleted the CRDs (or the ModelVersion) despite crds.keep")
    else:
        print("  helm uninstall: Deployment gone, CRDs and the ModelVersion kept")

    cfg.install(new, "sextant", {**values, "crds": {"keep": False}}, namespace="sextant-system")
    cfg.uninstall("sextant")
    left = [n for n in ("trainingjobs", "modelversions", "canaryrollouts") if crd(f"{n}.mlops.sextant.dev")]
    if left:
        fail(f"with crds.keep=false, helm uninstall left the CRDs {left}")
    else:
        print("  crds.keep=false: helm uninstall deletes the CRDs (the keep annotation is what kept them)")
    cfg.close() if hasattr(cfg, "close") else None
except (RuntimeError, helm.HelmError) as e:
    fail(str(e))
finally:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
    if failures:
        print(f"  (development API server log: {log.name})", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
