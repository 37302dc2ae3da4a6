import Foundation
import SextantLocalNode
import Testing

/// A relative work directory (`sextant dev apiserver --data-dir .tmp/apiserver --local-node`) is
/// made absolute: processes run in their Pod directory, so a relative `--result-file` or volume
/// path would point below it (the trainer then failed to write its termination message).
@Suite struct WorkDirectoryTests {
    @Test func relativeWorkDirectoryBecomesAbsolute() {
        let options = LocalNodeOptions(workDirectory: ".tmp/apiserver/local-node")
        #expect(options.workDirectory == FileManager.default.currentDirectoryPath + "/.tmp/apiserver/local-node")
        #expect(LocalNodeOptions(workDirectory: "/a/b/../c").workDirectory == "/a/c")
        #expect(LocalNodeOptions().workDirectory.hasPrefix("/"))
    }
}
