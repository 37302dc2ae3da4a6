import Foundation
import SextantDevServer
import SextantJSON
import Testing

/// The official Python `kubernetes` client (pip package `kubernetes`) through the generated kubeconfig.
@Suite struct PythonClientTests {
    static let script = #"""
    import json, sys, threading, time
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException

    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    meta = client.V1ObjectMeta
    v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta(name="py-a", labels={"app": "py"}), data={"k": "v"}))
    v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta(name="other"), data={}))
    listed = v1.list_namespaced_config_map("default", label_selector="app=py")
    rv = listed.metadata.resource_version
    events = []

    def watcher():
        w = watch.Watch()
        for ev in w.stream(v1.list_namespaced_config_map, "default", resource_version=rv, label_selector="app=py",
                           timeout_seconds=10):
            events.append([ev["type"], ev["object"].metadata.name, ev["object"].data])
            if len(events) >= 3:
                w.stop()

    t = threading.Thread(target=watcher)
    t.start()
    time.sleep(0.5)
    v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta(name="py-b", labels={"app": "py"})))
    v1.patch_namespaced_config_map("py-a", "default", {"data": {"k": "w"}})
    v1.delete_namespaced_config_map("py-b", "default")
    t.join(15)
    try:
        v1.read_namespaced_config_map("missing", "default")
        missing = None
    except ApiException as e:
        missing = [e.status, json.loads(e.body)["reason"]]
    namespaces = [n.metadata.name for n in v1.list_namespace().items]
    print(json.dumps({"listed": [i.metadata.name for i in listed.items], "events": events, "missing": missing,
                      "namespaces": namespaces}))
    """#

    @Test func listsAndWatchesThroughTheKubeconfig() async throws {
        guard let python = requireTool("python3") else { return }
        let probe = try await run(python, ["-c", "import kubernetes"])
        guard probe.status == 0 else {
            Issue.record("the Python package kubernetes is required but not installed (pip install -r hack/requirements-test.txt)")
            return
        }
        let env = try await RunningServer.start(DevServerConfiguration(token: "s3cret"))
        let scriptFile = env.directory.appendingPathComponent("client_check.py")
        try Self.script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let result = try await run(python, [scriptFile.path, env.kubeconfig])
        await env.stop()
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let output = try JSONValue.parse(string: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(output["listed"] == ["py-a"])
        #expect(output["events"] == [["ADDED", "py-b", nil], ["MODIFIED", "py-a", ["k": "w"]], ["DELETED", "py-b", nil]])
        #expect(output["missing"] == [404, "NotFound"])
        #expect(output["namespaces"]?.arrayValue?.contains("default") == true)
    }
}
