import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantLocalNode
import SextantTestSupport
import Testing

/// The local node with `--runtime podman` and real podman: Sextant's images as hack/images/build.sh
/// tags them (hack/test.sh builds them before the Swift tests). Skipped, saying so loudly, only
/// where podman cannot run a container; a missing podman or a missing image fails.
@Suite(.serialized) struct PodmanTests {
    @Test func trainerImageRunsAJobWithVolumesAndItsTerminationMessage() async throws {
        try await Podman.withNode { h, images in
        let data = h.work.file("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try writeTrainingData(data + "/data.csv")
        // Paths inside the container: the data is a hostPath volume at /data.
        _ = try await h.client.create(ConfigMap(metadata: ObjectMeta(name: "trainer-config", namespace: "default"),
                                                data: ["config.yaml": trainerConfig(data: "/data/data.csv")]))
        let trainer = container("trainer", image: images.trainer,
                                args: ["--config", "/etc/sextant/config.yaml", "--output", "/models/run1", "--quiet"],
                                mounts: [("config", "/etc/sextant"), ("data", "/data"), ("models", "/models")])
        _ = try await h.create(NodeHarness.jobs, job("train", containers: [trainer], volumes: [
            ["name": "config", "configMap": ["name": "trainer-config"]],
            ["name": "data", "hostPath": ["path": .string(data)]],
            ["name": "models", "persistentVolumeClaim": ["claimName": "models"]],
        ]))
        let done = try await h.wait("job train to finish", timeout: .seconds(90)) {
            let j = try await h.get(NodeHarness.jobs, "train")
            return isTrue(j, "Complete") || isTrue(j, "Failed") ? j : nil
        }
        #expect(await h.node.runtimeName == "podman")
        #expect(isTrue(done, "Complete"), "\(done)")
        let pod = try #require(try await h.pods(ownedBy: done.uidString).first)
        let state = try #require(terminated(pod))
        #expect(state["exitCode"] == 0)
        #expect(state["containerID"]?.stringValue?.hasPrefix("podman://") == true, "\(state)")
        // The trainer found /dev/termination-log writable in the container and wrote its summary there.
        let summary = try JSONValue.parse(string: try #require(state["message"]?.stringValue))
        #expect(summary["status"] == "Succeeded")
        #expect(summary[path: ["data", "rows"]] == 600)
        #expect(summary[path: ["artifact", "uri"]]?.stringValue?.contains("/models/run1/") == true, "\(summary)")
        #expect(FileManager.default.fileExists(atPath: h.options.workDirectory + "/pvc/default/models/run1/model.json"))
        }
    }

    /// Three Pods at once (CI time): a crash loop whose environment, volumes and logs are checked with
    /// kubectl, a real OOM kill under a memory limit, and an image that does not exist.
    @Test func crashLoopLogsOOMKillAndMissingImage() async throws {
        guard try Tooling.available("kubectl", Tooling.find("kubectl") != nil), let kubectl = Tooling.find("kubectl") else { return }
        try await Podman.withNode { h, images in
        h.server.handler.setPodLogSource(NodeLogs(node: h.node))
        let kubeconfig = h.work.file("kubeconfig")
        try h.server.writeKubeconfig(to: kubeconfig)
        _ = try await h.client.create(ConfigMap(metadata: ObjectMeta(name: "cfg", namespace: "default"),
                                                data: ["k": "from-configmap"]))
        _ = try await h.client.create(Secret(metadata: ObjectMeta(name: "token", namespace: "default"),
                                             data: ["t": Data("s3cr3t".utf8).base64EncodedString()]))
        let shell: JSONValue = ["/bin/sh", "-c"]
        let crash = container("main", image: images.trainer, args: [
            "echo \"secret=$TOKEN config=$(cat /etc/cfg/k) pod=$(POD)\"; echo scratch > /scratch/f; cat /scratch/f; "
                + "echo bye > /dev/termination-log; exit 3",
        ], mounts: [("cfg", "/etc/cfg"), ("scratch", "/scratch")], extra: [
            "command": shell,
            "env": [["name": "TOKEN", "valueFrom": ["secretKeyRef": ["name": "token", "key": "t"]]],
                    ["name": "POD", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]]],
        ])
        _ = try await h.create(NodeHarness.pods, Podman.pod("crash", containers: [crash], restartPolicy: "Always", volumes: [
            ["name": "cfg", "configMap": ["name": "cfg"]], ["name": "scratch", "emptyDir": [:]],
        ]))
        let hog = container("hog", image: images.trainer, args: ["head -c 200m /dev/zero | tail"], extra: [
            "command": shell, "resources": ["limits": ["memory": "32Mi"]],
        ])
        _ = try await h.create(NodeHarness.pods, Podman.pod("hog", containers: [hog], restartPolicy: "Never"))
        let missing = container("missing", image: "localhost/sextant-no-such-image:0", args: [])
        _ = try await h.create(NodeHarness.pods, Podman.pod("missing", containers: [missing], restartPolicy: "Always"))

        // ErrImagePull, then ImagePullBackOff while the node waits to try again.
        let pulled = try await h.wait("ErrImagePull on pod missing", timeout: .seconds(60)) {
            let p = try await h.get(NodeHarness.pods, "missing")
            return p?[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "reason"]] == "ErrImagePull" ? p : nil
        }
        let pullMessage = pulled[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "message"]]?.stringValue
        #expect(pullMessage?.contains("localhost/sextant-no-such-image:0") == true, "\(pulled)")
        #expect(phase(pulled) == "Pending")
        let backingOff = try await h.wait("ImagePullBackOff on pod missing", timeout: .seconds(60)) {
            let p = try await h.get(NodeHarness.pods, "missing")
            return p?[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "reason"]] == "ImagePullBackOff" ? p : nil
        }
        let backOffMessage = backingOff[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "message"]]?.stringValue
        #expect(backOffMessage?.hasPrefix("Back-off pulling image \"localhost/sextant-no-such-image:0\"") == true, "\(backingOff)")

        let oom = try await h.wait("pod hog to fail", timeout: .seconds(60)) {
            let p = try await h.get(NodeHarness.pods, "hog")
            return phase(p) == "Failed" ? p : nil
        }
        #expect(terminated(oom)?["reason"] == "OOMKilled", "\(oom)")
        #expect(terminated(oom)?["exitCode"] == 137)

        let looping = try await h.wait("pod crash in CrashLoopBackOff after a restart", timeout: .seconds(60)) {
            let p = try await h.get(NodeHarness.pods, "crash")
            let status = p?[path: ["status", "containerStatuses"]]?[0]
            return status?[path: ["state", "waiting", "reason"]] == "CrashLoopBackOff"
                && (status?["restartCount"]?.intValue ?? 0) >= 1 ? p : nil
        }
        let waiting = looping[path: ["status", "containerStatuses"]]?[0]?[path: ["state", "waiting", "message"]]?.stringValue ?? ""
        let crashUID = looping[path: ["metadata", "uid"]]?.stringValue ?? "?"
        #expect(waiting.hasPrefix("back-off ") && waiting.hasSuffix("restarting failed container=main pod=crash_default(\(crashUID))"),
                "\(waiting)")
        let last = looping[path: ["status", "containerStatuses"]]?[0]?[path: ["lastState", "terminated"]]
        #expect(last?["exitCode"] == 3, "\(looping)")
        #expect(last?["message"] == "bye\n" || last?["message"] == "bye", "\(looping)")
        // kubectl logs through the dev server's pods/log: the Secret, the ConfigMap volume, the
        // downward API and the emptyDir all reached the container.
        let env = ["KUBECONFIG": kubeconfig, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        // A restart may have begun (its output not written yet): poll for a whole run.
        let expected = "secret=s3cr3t config=from-configmap pod=crash\nscratch\n"
        let logs = try await h.wait("kubectl logs crash to show one whole run", timeout: .seconds(30)) {
            let out = try runCommand(kubectl, ["logs", "crash"], environment: env)
            return out.code == 0 && out.output == expected ? out : nil
        }
        #expect(logs.output == expected)
        let previous = try await h.wait("kubectl logs crash --previous --tail 1", timeout: .seconds(30)) {
            let out = try runCommand(kubectl, ["logs", "crash", "--previous", "--tail", "1"], environment: env)
            return out.code == 0 && out.output == "scratch\n" ? out : nil
        }
        #expect(previous.code == 0 && previous.output == "scratch\n", "\(previous.output)")
        }
    }

    @Test func serverImageWithReadinessAndLivenessProbes() async throws {
        try await Podman.withNode { h, images in
        _ = try trainModel(in: h.work)
        let models: JSONValue = ["name": "models", "hostPath": ["path": .string(h.work.file("model"))]]
        let args = ["--model-uri", "/models/model.json", "--model-name", "demo", "--listen", "0.0.0.0:8080"]
        let ready = container("server", image: images.server, args: args, mounts: [("models", "/models")], extra: [
            "readinessProbe": ["httpGet": ["path": "/v2/health/ready", "port": 8080], "periodSeconds": 1],
        ])
        _ = try await h.create(NodeHarness.pods, Podman.pod("serve", containers: [ready], restartPolicy: "Always",
                                                            volumes: [models]))
        // A liveness probe on a path the server answers 404: killed and restarted.
        let dying = container("server", image: images.server, args: args, mounts: [("models", "/models")], extra: [
            "livenessProbe": ["httpGet": ["path": "/v2/models/missing/ready", "port": 8080], "periodSeconds": 1,
                              "failureThreshold": 2],
        ])
        _ = try await h.create(NodeHarness.pods, Podman.pod("dying", containers: [dying], restartPolicy: "Always",
                                                            volumes: [models]))
        let serving = try await h.wait("pod serve Ready", timeout: .seconds(60)) {
            let p = try await h.get(NodeHarness.pods, "serve")
            return isTrue(p, "Ready") ? p : nil
        }
        let endpoint = try #require(serving[path: ["metadata", "annotations", LocalNode.endpointAnnotation]]?.stringValue)
        #expect(await httpStatus(endpoint, "/v2/models/demo/ready") == 200)
        let restarted = try await h.wait("pod dying restarted by its liveness probe", timeout: .seconds(60)) {
            let p = try await h.get(NodeHarness.pods, "dying")
            return (p?[path: ["status", "containerStatuses"]]?[0]?["restartCount"]?.intValue ?? 0) >= 1 ? p : nil
        }
        #expect(restarted[path: ["status", "containerStatuses"]]?[0]?[path: ["lastState", "terminated"]] != nil, "\(restarted)")
        // The Pod that passes its probes was never restarted.
        let still = try await h.get(NodeHarness.pods, "serve")
        #expect(still?[path: ["status", "containerStatuses"]]?[0]?["restartCount"] == 0)
        }
    }
}

/// podman as hack/images/build.sh and test.sh run it here (the images: `PodmanImages`).
enum Podman {
    typealias Images = PodmanImages.Images

    static let environment = PodmanImages.environment

    /// The tests' node name, also the label value of their containers.
    static let nodeName = "sextant-podman-test"

    static func configure(_ options: inout LocalNodeOptions) {
        options.nodeName = nodeName
        options.runtime = .podman(executable: Tooling.find("podman") ?? "/usr/bin/podman", environment: environment)
    }

    /// A node with the podman runtime for `body`, stopped (its containers removed) before returning.
    static func withNode(_ body: (NodeHarness, Images) async throws -> Void) async throws {
        guard let images = try PodmanImages.ready(suite: "PodmanTests", nodeName: nodeName) else { return }
        guard let h = try await NodeHarness.start(configure: configure) else { return }
        do {
            try await body(h, images)
        } catch {
            await h.stop()
            throw error
        }
        await h.stop()
    }

    static func pod(_ name: String, containers: [JSONValue], restartPolicy: String, volumes: [JSONValue] = []) -> JSONValue {
        ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default"],
         "spec": ["restartPolicy": .string(restartPolicy), "containers": .array(containers), "volumes": .array(volumes),
                  "terminationGracePeriodSeconds": 2]]
    }
}

/// The node's log files as the dev server's pods/log (as `sextant dev apiserver --local-node` wires them).
struct NodeLogs: PodLogSource {
    let node: LocalNode
    func logs(namespace: String, pod: String, uid: String, container: String, previous: Bool) async -> [UInt8]? {
        await node.logs(namespace: namespace, pod: pod, uid: uid, container: container, previous: previous)
    }
}

extension JSONValue {
    var uidString: String { self[path: ["metadata", "uid"]]?.stringValue ?? "" }
}
