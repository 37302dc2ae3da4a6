import Foundation
import SextantTestSupport
import Testing

/// The long-running programs allocate through mimalloc (Package.swift's `fastAllocator`): the
/// dynamic loader must bind `malloc` to it, not to glibc, whatever links first.
@Suite struct AllocatorTests {
    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Where the loader bound `malloc` for the program's own libraries, from `LD_DEBUG=bindings`.
    static func mallocProviders(_ program: String) throws -> Set<String> {
        let run = try runCommand(binary(program), ["--help"], environment: ["LD_DEBUG": "bindings"])
        var providers = Set<String>()
        for line in run.output.split(separator: "\n") where line.contains("normal symbol `malloc'") {
            guard let to = line.range(of: " to ") else { continue }
            let target = line[to.upperBound...].prefix { $0 != " " }
            providers.insert(String(target.split(separator: "/").last ?? target))
        }
        return providers
    }

    @Test(arguments: ["sextant", "sextant-controller", "sextant-server"])
    func longRunningProgramsUseMimalloc(program: String) throws {
        let providers = try Self.mallocProviders(program)
        #expect(!providers.isEmpty, "LD_DEBUG printed no malloc binding for \(program)")
        #expect(providers.allSatisfy { $0.hasPrefix("libmimalloc.so") }, "malloc bound to \(providers)")
    }

    #if arch(arm64)
    static let glibc = "/usr/lib/aarch64-linux-gnu/libc.so.6"
    #else
    static let glibc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    #endif

    /// The controller hands freed pages back at once (docs/controller.md), unless the environment
    /// says otherwise; its start-up line says which allocator and delay it runs with.
    @Test(arguments: [
        ([String: String](), "allocator=mimalloc, decommit delay 0 ms"),
        (["MIMALLOC_DECOMMIT_DELAY": "25"], "allocator=mimalloc, decommit delay 25 ms"),
        (["LD_PRELOAD": glibc], "allocator=glibc"),
    ])
    func theControllerReturnsFreedPagesAtOnce(environment: [String: String], expected: String) async throws {
        let directory = try TemporaryDirectory()
        let kubeconfig = directory.file("kubeconfig")
        // Nothing listens on port 9: the controller logs its start and keeps retrying the API server.
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
            users: [{name: u, user: {}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """.write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let controller = try TestProcess(Self.binary("sextant-controller"),
                                         ["--kubeconfig", kubeconfig, "--leader-elect", "false",
                                          "--metrics-bind-address", "0", "--health-probe-bind-address", "0"],
                                         environment: environment)
        defer { controller.stop() }
        let started = try await poll(timeout: .seconds(20), every: .milliseconds(50)) {
            controller.text.contains(" starting")
        }
        #expect(started, "no start-up line: \(controller.text)")
        #expect(controller.text.contains(expected), "\(controller.text)")
    }

    @Test func theTrainerKeepsGlibc() throws {
        let providers = try Self.mallocProviders("sextant-trainer")
        #expect(providers.contains { $0.hasPrefix("libc.so") }, "malloc bound to \(providers)")
        #expect(!providers.contains { $0.hasPrefix("libmimalloc") })
    }
}
