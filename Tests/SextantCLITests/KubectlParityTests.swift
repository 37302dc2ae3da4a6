import Foundation
import SextantDevServer
import SextantJSON
import SextantKube
import SextantKubeTypes
import SextantTestSupport
import Testing
import Yams

/// The CLI behaves like kubectl: categories and comma-separated types, errors without usage text,
/// `--version` on every binary, `requestedBy` from the kubeconfig, shell completion, and the
/// kubectl plugin installed by hack/install.sh and packaged for krew.
@Suite("sextant behaves like kubectl", .serialized)
struct KubectlParityTests {
    static let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    static func binary(_ name: String) -> String { binDirectory.appendingPathComponent(name).path }
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Cluster {
        let server: DevServer
        let directory: TemporaryDirectory
        let kubeconfig: String
        let client: KubeClient
    }

    func resource(_ plural: String, _ kind: String) -> ResourceDescriptor {
        ResourceDescriptor(group: "mlops.sextant.dev", version: "v1alpha1", plural: plural, kind: kind, namespaced: true)
    }

    /// A development API server with Sextant's CRDs, a TrainingJob and a ModelVersion in
    /// `default` and a CanaryRollout in `team-b`.
    func cluster() async throws -> Cluster {
        let (server, client, kubeconfig, directory) = try await startServerWithSextantCRDs(token: "parity-token")
        _ = try await client.send(method: "POST", path: "/api/v1/namespaces",
                                  body: Data(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-b"}}"#.utf8))
        let tj: JSONValue = ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "TrainingJob",
                             "metadata": ["name": "fraud", "namespace": "default"],
                             "spec": ["modelName": "fraud", "data": ["source": ["uri": "file:///d.csv"], "target": "y"],
                                      "output": ["uri": "file:///models/"]]]
        let _: DynamicObject = try await client.create(resource("trainingjobs", "TrainingJob"), DynamicObject(tj), namespace: "default")
        let mv: JSONValue = ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "ModelVersion",
                             "metadata": ["name": "fraud-v3", "namespace": "default"],
                             "spec": ["modelName": "fraud", "version": 3, "artifact": ["uri": "s3://m/fraud/v3/model.json"],
                                      "metrics": ["aucRoc": 0.9824132643281579]]]
        let _: DynamicObject = try await client.create(resource("modelversions", "ModelVersion"), DynamicObject(mv), namespace: "default")
        let cro: JSONValue = ["apiVersion": "mlops.sextant.dev/v1alpha1", "kind": "CanaryRollout",
                              "metadata": ["name": "fraud", "namespace": "team-b"],
                              "spec": ["modelName": "fraud",
                                       "serving": ["external": ["stableDeployment": "fraud-stable", "canaryDeployment": "fraud-canary"]],
                                       "routing": ["virtualService": ["name": "fraud"],
                                                   "services": ["stable": "fraud-stable", "canary": "fraud-canary"]],
                                       "strategy": ["canary": ["stepWeight": 10]]]]
        let _: DynamicObject = try await client.create(resource("canaryrollouts", "CanaryRollout"), DynamicObject(cro), namespace: "team-b")
        return Cluster(server: server, directory: directory, kubeconfig: kubeconfig, client: client)
    }

    func sextant(_ args: [String], _ cluster: Cluster) async throws -> (code: Int32, output: String) {
        try await runCommandAsync(Self.binary("sextant"), args + ["--kubeconfig", cluster.kubeconfig])
    }

    @Test func getTakesCategoriesCommaSeparatedTypesAndTypeSlashName() async throws {
        let c = try await cluster()
        defer { Task { await c.server.stop() } }

        let category = try await sextant(["get", "sextant", "-A"], c)
        #expect(category.code == 0, "\(category.output)")
        for name in ["trainingjob.mlops.sextant.dev/fraud", "modelversion.mlops.sextant.dev/fraud-v3",
                     "canaryrollout.mlops.sextant.dev/fraud"] {
            #expect(category.output.contains(name), "\(name) missing: \(category.output)")
        }
        #expect(category.output.contains("NAMESPACE") && category.output.contains("team-b"))

        let two = try await sextant(["get", "tj,mv", "-A"], c)
        #expect(two.code == 0, "\(two.output)")
        #expect(two.output.contains("trainingjob.mlops.sextant.dev/fraud") && two.output.contains("modelversion.mlops.sextant.dev/fraud-v3"))
        #expect(!two.output.contains("canaryrollout"), "\(two.output)")
        // One table per type, each with its own header, as kubectl prints them.
        #expect(two.output.components(separatedBy: "NAMESPACE").count - 1 == 2, "\(two.output)")

        let slash = try await sextant(["get", "tj/fraud", "mv/fraud-v3", "-o", "name"], c)
        #expect(slash.code == 0, "\(slash.output)")
        #expect(slash.output.split(separator: "\n") == ["trainingjob.mlops.sextant.dev/fraud", "modelversion.mlops.sextant.dev/fraud-v3"])

        let single = try await sextant(["get", "cro", "-A"], c)
        #expect(single.code == 0 && single.output.contains("fraud") && !single.output.contains("canaryrollout.mlops"), "\(single.output)")

        let json = try await sextant(["get", "tj,mv", "-o", "json"], c)
        let list = try JSONValue.parse(string: json.output)
        #expect(list["kind"] == "List" && list["items"]?.arrayValue?.count == 2, "\(json.output)")

        let empty = try await sextant(["get", "cro"], c)
        #expect(empty.code == 0)
        #expect(empty.output.contains("No resources found in default namespace."), "\(empty.output)")
    }

    @Test func aMissingObjectIsAnErrorMessageWithExitCodeOneAndNoUsage() async throws {
        let c = try await cluster()
        defer { Task { await c.server.stop() } }
        let missing = try await sextant(["get", "mv", "fraud-v3", "nope"], c)
        #expect(missing.code == 1, "\(missing.output)")
        #expect(missing.output.contains("fraud-v3"), "the object that exists is still printed: \(missing.output)")
        #expect(missing.output.contains(#"Error from server (NotFound): modelversions.mlops.sextant.dev "nope" not found"#),
                "\(missing.output)")
        #expect(!missing.output.contains("Usage:"), "\(missing.output)")

        let request = try await sextant(["promote", "nope", "-n", "team-b"], c)
        #expect(request.code == 1 && !request.output.contains("Usage:"), "\(request.output)")
        #expect(request.output.contains(#"canaryrollouts.mlops.sextant.dev "nope" not found"#), "\(request.output)")

        let unknownType = try await sextant(["get", "widgets"], c)
        #expect(unknownType.code == 1 && !unknownType.output.contains("Usage:"), "\(unknownType.output)")
        #expect(unknownType.output.contains(#"the server doesn't have a resource type "widgets""#))

        // Usage errors keep the usage text and exit code 64.
        let usage = try await runCommandAsync(Self.binary("sextant"), ["get"])
        #expect(usage.code == 64 && usage.output.contains("Usage:"), "\(usage.output)")
    }

    @Test func everyBinaryPrintsItsVersionAndGitRevision() async throws {
        var revisions: Set<String> = []
        for program in ["sextant", "sextant-controller", "sextant-trainer", "sextant-server"] {
            let result = try await runCommandAsync(Self.binary(program), ["--version"])
            #expect(result.code == 0, "\(program) --version: \(result.output)")
            revisions.insert(try #require(Self.revision(in: result.output), "\(program): \(result.output)"))
        }
        #expect(revisions.count == 1, "\(revisions)")
        let version = try await runCommandAsync(Self.binary("sextant"), ["version"])
        #expect(version.code == 0)
        #expect(version.output.hasPrefix("sextant 0.1.0 (revision "), "\(version.output)")
        let revision = try #require(Self.revision(in: version.output))
        // The revision is a commit of this repository (built from this tree, not "unknown").
        let hash = String(revision.prefix(12))
        let exists = try await runCommandAsync("/usr/bin/git", ["-C", Self.root.path, "cat-file", "-e", "\(hash)^{commit}"])
        #expect(exists.code == 0, "revision \(revision) is not a commit of \(Self.root.path): \(exists.output)")
    }

    /// `0.1.0 (revision 0123456789ab)` or `... (revision 0123456789ab-dirty)`.
    static func revision(in output: String) -> String? {
        guard let range = output.range(of: #"\(revision [0-9a-f]{12}(-dirty)?\)"#, options: .regularExpression) else { return nil }
        return String(output[range].dropFirst("(revision ".count).dropLast())
    }

    @Test func requestedByIsTheKubeconfigUserNotUnknown() async throws {
        let c = try await cluster()
        defer { Task { await c.server.stop() } }
        func requestedBy(_ environment: [String]) async throws -> String? {
            // env -u: run without $USER and $LOGNAME, as in a container or a CI job.
            let result = try await runCommandAsync("/usr/bin/env", environment + [Self.binary("sextant"), "approve", "fraud-v3",
                                                                       "--kubeconfig", c.kubeconfig])
            #expect(result.code == 0, "\(result.output)")
            let mv: DynamicObject = try await c.client.get(resource("modelversions", "ModelVersion"), name: "fraud-v3",
                                                           namespace: "default")
            return mv.raw[path: ["status", "requests", "approve", "requestedBy"]]?.stringValue
        }
        // The dev server's kubeconfig names its user entry `sextant-dev`.
        #expect(try await requestedBy(["-u", "USER", "-u", "LOGNAME", "-u", "SEXTANT_USER"]) == "sextant-dev")
        #expect(try await requestedBy(["-u", "SEXTANT_USER", "USER=ana"]) == "sextant-dev")
        #expect(try await requestedBy(["SEXTANT_USER=release-bot"]) == "release-bot")
    }

    @Test func theBashCompletionScriptCompletesSubcommandsAndFlags() async throws {
        let script = try await runCommandAsync(Self.binary("sextant"), ["--generate-completion-script", "bash"])
        #expect(script.code == 0)
        let directory = try TemporaryDirectory()
        let file = directory.file("sextant.bash")
        try script.output.write(toFile: file, atomically: true, encoding: .utf8)
        // Real bash loads the script and calls its completion function the way `complete -F` does
        // (command, current word, previous word) for `sextant ver` and `sextant get --all`.
        let words = """
            source "$1"
            COMP_WORDS=(sextant ver); COMP_CWORD=1; COMP_LINE="sextant ver"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=(); _sextant sextant ver sextant; echo "sub: ${COMPREPLY[*]}"
            COMP_WORDS=(sextant get --all); COMP_CWORD=2; COMP_LINE="sextant get --all"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=(); _sextant sextant --all get; echo "flag: ${COMPREPLY[*]}"
            """
        let result = try await runCommandAsync("/bin/bash", ["-c", words, "bash", file],
                                    environment: ["PATH": Self.binDirectory.path + ":/usr/bin:/bin"])
        #expect(result.code == 0, "\(result.output)")
        #expect(result.output.contains("sub: version"), "\(result.output)")
        #expect(result.output.contains("flag: --all-namespaces"), "\(result.output)")
    }

    /// The "done when" of the first-hour issue: `kubectl sextant get cro -A` through kubectl's
    /// plugin mechanism, with kubectl-sextant installed by hack/install.sh.
    @Test func kubectlSextantWorksThroughThePluginMechanismAfterTheInstallScript() async throws {
        let kubectl = try #require(["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "kubectl is required: install it with hack/install-deps.sh")
        let c = try await cluster()
        defer { Task { await c.server.stop() } }
        let prefix = try TemporaryDirectory()
        let install = try await runCommandAsync(Self.root.appendingPathComponent("hack/install.sh").path,
                                     ["--prefix", prefix.path, "--from", Self.binDirectory.path])
        #expect(install.code == 0, "\(install.output)")
        let plugin = prefix.file("bin/kubectl-sextant")
        #expect(FileManager.default.isExecutableFile(atPath: plugin))
        for file in ["share/bash-completion/completions/sextant", "share/zsh/site-functions/_sextant",
                     "share/fish/vendor_completions.d/sextant.fish"] {
            let text = (try? String(contentsOfFile: prefix.file(file), encoding: .utf8)) ?? ""
            #expect(text.contains("sextant"), "\(file) missing or empty")
        }
        let environment = ["PATH": prefix.file("bin") + ":/usr/bin:/bin", "KUBECONFIG": c.kubeconfig]
        let listed = try await runCommandAsync(kubectl, ["plugin", "list"], environment: environment)
        #expect(listed.output.contains(plugin), "\(listed.output)")
        let get = try await runCommandAsync(kubectl, ["sextant", "get", "cro", "-A"], environment: environment)
        #expect(get.code == 0, "\(get.output)")
        let lines = get.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAMESPACE") == true && lines.contains { $0.hasPrefix("team-b") && $0.contains("fraud") },
                "\(get.output)")
        let version = try await runCommandAsync(kubectl, ["sextant", "version"], environment: environment)
        #expect(version.code == 0 && version.output.hasPrefix("sextant 0.1.0 (revision "), "\(version.output)")
    }

    /// The krew manifest: krew's index format (`krew.googlecontainertools.github.com/v1alpha2`
    /// Plugin) pointing at an archive whose sha256 and `bin` match what is in it.
    @Test func theKrewManifestDescribesTheArchiveItShipsWith() async throws {
        let out = try TemporaryDirectory()
        let package = try await runCommandAsync(Self.root.appendingPathComponent("hack/krew/package.sh").path,
                                     ["0.1.0", out.path, Self.binary("sextant")], environment: ["SEXTANT_GZIP_LEVEL": "1"])
        #expect(package.code == 0, "\(package.output)")
        let text = try String(contentsOfFile: out.file("sextant.yaml"), encoding: .utf8)
        let manifest = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(manifest["apiVersion"] as? String == "krew.googlecontainertools.github.com/v1alpha2")
        #expect(manifest["kind"] as? String == "Plugin")
        #expect((manifest["metadata"] as? [String: Any])?["name"] as? String == "sextant")
        let spec = try #require(manifest["spec"] as? [String: Any])
        #expect((spec["version"] as? String)?.range(of: #"^v\d+\.\d+\.\d+"#, options: .regularExpression) != nil)
        #expect(!((spec["shortDescription"] as? String) ?? "").isEmpty)
        #expect((spec["homepage"] as? String)?.hasPrefix("https://") == true)
        let platforms = try #require(spec["platforms"] as? [[String: Any]])
        #expect(platforms.count >= 1)
        for platform in platforms {
            let labels = (platform["selector"] as? [String: Any])?["matchLabels"] as? [String: String]
            #expect(["linux", "darwin", "windows"].contains(labels?["os"] ?? ""))
            #expect(["amd64", "arm64"].contains(labels?["arch"] ?? ""))
            let uri = try #require(platform["uri"] as? String)
            #expect(uri.hasPrefix("https://") && uri.hasSuffix(".tar.gz"), "\(uri)")
            let sha = try #require(platform["sha256"] as? String)
            #expect(sha.range(of: "^[0-9a-f]{64}$", options: .regularExpression) != nil)
            let bin = try #require(platform["bin"] as? String)
            // The archive the URI names, as written next to the manifest.
            let archive = out.file(String(uri.split(separator: "/").last ?? ""))
            let actual = try await runCommandAsync("/usr/bin/sha256sum", [archive])
            #expect(actual.output.hasPrefix(sha), "sha256 of \(archive): \(actual.output)")
            let unpacked = try TemporaryDirectory()
            #expect(try await runCommandAsync("/bin/tar", ["-xzf", archive, "-C", unpacked.path]).code == 0)
            let version = try await runCommandAsync(unpacked.file(bin), ["--version"])
            #expect(version.code == 0 && Self.revision(in: version.output) != nil, "\(version.output)")
        }
    }
}
