import Foundation
import SextantTestSupport
import Testing

/// No code here arms libdispatch file-descriptor sources. On Linux, read and write sources armed
/// and torn down from several threads at once corrupt libdispatch's epoll bookkeeping and kill the
/// process with SIGSEGV in `_dispatch_event_loop_drain` (swift-corelibs-libdispatch#949): it ended
/// one CI run of this suite, and a controller running for weeks would meet it too. Sockets go
/// through libcurl (`SextantTransport`) or blocking calls on a thread; pipes through `PipeReader`.
@Suite struct DispatchSourceRuleTests {
    /// APIs that arm such sources: FileHandle's handlers, URLSession (FoundationNetworking's curl
    /// driver registers a source per socket), and Dispatch's own.
    static let forbidden = ["readabilityHandler", "writeabilityHandler", "URLSession", "FoundationNetworking",
                            "makeReadSource", "makeWriteSource", "DispatchIO"]

    @Test func noSwiftFileArmsADispatchFileSource() throws {
        var offenders: [String] = []
        var scanned = 0
        for folder in ["Sources", "Tests"] {
            let root = Repo.root + "/" + folder
            guard let files = FileManager.default.enumerator(atPath: root) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") && !file.hasSuffix("/DispatchSourceRuleTests.swift") {
                scanned += 1
                let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                    for name in Self.forbidden where code.contains(name) {
                        offenders.append("\(folder)/\(file):\(number + 1): \(name)")
                    }
                }
            }
        }
        #expect(scanned > 100, "scanned \(scanned) Swift files under \(Repo.root)")
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
    }
}
