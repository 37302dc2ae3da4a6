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

    @Test func theTrainerKeepsGlibc() throws {
        let providers = try Self.mallocProviders("sextant-trainer")
        #expect(providers.contains { $0.hasPrefix("libc.so") }, "malloc bound to \(providers)")
        #expect(!providers.contains { $0.hasPrefix("libmimalloc") })
    }
}
