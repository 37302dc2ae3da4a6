import Foundation
import SextantJSON
import SextantKube
import Testing
@testable import SextantLocalNode

/// The pure parts: image names, path rewriting, `$(VAR)` expansion, argument rewriting.
@Suite struct UnitTests {
    @Test func quantitiesBecomePodmanLimitsAndABadOneIsRefusedNamingTheField() throws {
        #expect(ResourceQuantity.bytes("32Mi") == "33554432")
        #expect(ResourceQuantity.bytes("1G") == "1000000000")
        #expect(ResourceQuantity.bytes(.int(4096)) == "4096")
        #expect(ResourceQuantity.bytes("lots") == nil)
        #expect(ResourceQuantity.bytes("-1Mi") == nil)
        #expect(ResourceQuantity.cores("500m") == "0.500")
        #expect(ResourceQuantity.cores("2") == "2.000")
        let pod: JSONValue = [
            "metadata": ["name": "p", "namespace": "ns", "uid": "u"],
            "spec": ["containers": [["name": "c", "image": "busybox", "resources": ["limits": ["memory": "lots"]]]]],
        ]
        let runtime = PodmanRuntime(executable: "/usr/bin/podman", environment: [:], nodeName: "n")
        let plan = try PodPlan.make(pod: pod, runtime: runtime, workDirectory: "/w")
        #expect(plan.containers[0].entrypoint == nil, "any image runs with podman; only Sextant's get --listen")
        #expect(throws: Unschedulable.self) {
            _ = try runtime.launch(plan.containers[0], pod: plan, volumes: [:], environment: [:],
                                   options: LocalNodeOptions(workDirectory: "/w"))
        }
        do {
            _ = try runtime.launch(plan.containers[0], pod: plan, volumes: [:], environment: [:],
                                   options: LocalNodeOptions(workDirectory: "/w"))
        } catch {
            #expect(error.message.contains("spec.containers[0] (c).resources.limits.memory"), "\(error.message)")
        }
    }

    /// `runtimeName` is the runtime the node will use, decided before `run()` started anything (the
    /// whole loop in containers once read `process` while the podman check was still under way):
    /// podman when `podman info` answers (here `/bin/true` stands for it), processes when it cannot.
    @Test func theRuntimeIsDecidedBeforeRunAndFallsBackToProcesses() async throws {
        let client = KubeClient(config: ClusterConfig(server: "http://127.0.0.1:9"))
        func node(_ executable: String) -> LocalNode {
            var options = LocalNodeOptions(workDirectory: "/nonexistent-sextant-node")
            options.runtime = .podman(executable: executable, environment: [:])
            return LocalNode(client: client, options: options)
        }
        let answering = node("/bin/true")
        #expect(await answering.runtimeName == "podman")
        #expect(await answering.runtimeName == "podman", "decided once, kept")
        #expect(await node("/nonexistent/podman").runtimeName == "process")
        #expect(await node("/bin/false").runtimeName == "process")
        #expect(await LocalNode(client: client, options: LocalNodeOptions(workDirectory: "/w")).runtimeName == "process")
    }

    @Test func imageNamesIgnoreRegistryTagAndDigest() {
        #expect(ImageResolver.imageName("ghcr.io/sextant-dev/sextant-trainer:0.1.0") == "sextant-trainer")
        #expect(ImageResolver.imageName("localhost:5000/sextant-server") == "sextant-server")
        #expect(ImageResolver.imageName("sextant-server@sha256:abc") == "sextant-server")
        #expect(ImageResolver.imageName("reg:5000/a/sextant-server:v1@sha256:abc") == "sextant-server")
        #expect(ImageResolver.imageName("nginx:1.27") == "nginx")
        let resolver = ImageResolver(options: LocalNodeOptions(executables: ["sextant-server": "/x"], binDirectory: "/bin"))
        #expect(resolver.entrypoint(forImage: "docker.io/me/sextant-trainer-fork:1") == nil)
        #expect(resolver.entrypoint(forImage: "docker.io/me/sextant-trainer") == "sextant-trainer")
        #expect(resolver.executables["sextant-server"] == "/x")
        #expect(resolver.executables["sextant-trainer"] == "/bin/sextant-trainer")
    }

    @Test func mountPathsAreRewrittenLongestFirst() {
        let r = PathRewriter(mounts: [("/etc/sextant", "/w/config"), ("/etc/sextant/secret/", "/w/secret"), ("/data", "/w/data")],
                             exact: ["/dev/termination-log": "/w/term"])
        #expect(r.rewrite("/etc/sextant/config.yaml") == "/w/config/config.yaml")
        #expect(r.rewrite("/etc/sextant/secret/token") == "/w/secret/token")
        #expect(r.rewrite("/etc/sextant/secret") == "/w/secret")
        #expect(r.rewrite("/etc/sextant") == "/w/config")
        #expect(r.rewrite("/etc/sextantx/a") == "/etc/sextantx/a")
        #expect(r.rewrite("--config=/etc/sextant/c.yaml") == "--config=/w/config/c.yaml")
        #expect(r.rewrite("file:///data/x.csv") == "file:///w/data/x.csv")
        #expect(r.rewrite("s3://data/x.csv") == "s3://data/x.csv")
        #expect(r.rewrite("/dev/termination-log") == "/w/term")
        #expect(r.rewrite("/dev/termination-log/x") == "/dev/termination-log/x")
    }

    @Test func variablesExpandLikeKubernetes() {
        let env = ["A": "1", "B": "two"]
        #expect(expandVariables("$(A)-$(B)", env) == "1-two")
        #expect(expandVariables("$$(A) $(C) $", env) == "$(A) $(C) $")
        #expect(expandVariables("plain", env) == "plain")
    }

    static func plan(_ container: JSONValue) throws -> ContainerPlan {
        let pod: JSONValue = ["metadata": ["name": "p", "namespace": "ns", "uid": "u"],
                              "spec": ["containers": [container]]]
        let resolver = ImageResolver(options: LocalNodeOptions(executables: ["sextant-server": "/bin/sh",
                                                                             "sextant-trainer": "/bin/sh"]))
        return try PodPlan.make(pod: pod, resolver: resolver, workDirectory: "/w").containers[0]
    }

    @Test func serverListenIsForcedToAFreeLoopbackPort() throws {
        let rewriter = PathRewriter(mounts: [])
        let a = try Self.plan(["name": "s", "image": "sextant-server", "args": ["--listen", "0.0.0.0:8080", "--model-name", "m"]])
        #expect(a.arguments(expanded: [:], rewriter: rewriter) == ["--listen", "127.0.0.1:0", "--model-name", "m"])
        let b = try Self.plan(["name": "s", "image": "sextant-server", "command": ["/usr/bin/sextant-server"],
                               "args": ["--listen=:9000"]])
        #expect(b.arguments(expanded: [:], rewriter: rewriter) == ["--listen=127.0.0.1:0"])
        let c = try Self.plan(["name": "s", "image": "sextant-server", "args": ["--model-name", "$(NAME)"]])
        #expect(c.arguments(expanded: ["NAME": "fraud"], rewriter: rewriter) == ["--model-name", "fraud", "--listen", "127.0.0.1:0"])
        let t = try Self.plan(["name": "t", "image": "sextant-trainer", "args": ["--config", "c"]])
        #expect(t.arguments(expanded: [:], rewriter: rewriter) == ["--config", "c", "--result-file", "/w/ns/p/t.termination-log"])
    }

    @Test func unsupportedPodsNameTheField() {
        func message(_ spec: JSONValue) -> String {
            let pod: JSONValue = ["metadata": ["name": "p", "namespace": "ns", "uid": "u"], "spec": spec]
            let resolver = ImageResolver(options: LocalNodeOptions(executables: ["sextant-trainer": "/bin/sh"]))
            do {
                _ = try PodPlan.make(pod: pod, resolver: resolver, workDirectory: "/w")
                return ""
            } catch {
                return error.message
            }
        }
        let trainer: JSONValue = ["name": "t", "image": "sextant-trainer"]
        #expect(message(["containers": [trainer], "initContainers": [trainer]]).hasPrefix("spec.initContainers"))
        #expect(message(["containers": [trainer], "volumes": [["name": "v", "nfs": ["server": "x"]]]])
            .contains("spec.volumes[0] (v): volume type nfs"))
        #expect(message(["containers": [["name": "t", "image": "sextant-trainer", "command": ["sh", "-c", "x"]]]])
            .contains("spec.containers[0] (t).command[0]"))
        #expect(message(["containers": [["name": "t", "image": "sextant-trainer",
                                         "volumeMounts": [["name": "nope", "mountPath": "/x"]]]]])
            .contains("volumeMounts[0].name"))
        #expect(message(["containers": [["image": "sextant-trainer"]]]).contains("spec.containers[0].name"))
        #expect(message(["containers": [trainer], "restartPolicy": "Sometimes"]).contains("spec.restartPolicy"))
        #expect(message(["containers": [trainer]]) == "")
    }
}
