import Foundation
import SextantTestSupport

/// What the trainer image (hack/images/Dockerfile.trainer) and its test (hack/images/test.sh,
/// which runs the image as MPIJob launcher and worker) say about running as an MPIJob, read from
/// those files so that the MPIJob the controller writes is compared with them, not with a copy.
enum TrainerImageContract {
    struct Missing: Error, CustomStringConvertible { let description: String }

    /// A `LABEL key="value"` of Dockerfile.trainer.
    static func label(_ key: String) throws -> String {
        let path = Repo.root + "/hack/images/Dockerfile.trainer"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") where line.hasPrefix("LABEL ") {
            guard let range = line.range(of: key + "=\"") else { continue }
            let rest = line[range.upperBound...]
            if let end = rest.firstIndex(of: "\"") { return String(rest[..<end]) }
        }
        throw Missing(description: "\(path) has no LABEL \(key)=\"...\"")
    }

    /// An array of hack/images/test.sh (a `name=(word word ...)` line): the MPIJob worker's and
    /// launcher's commands it runs the image with (`mpi_worker_command`, `mpi_launcher_command`).
    static func testScriptCommand(_ name: String) throws -> [String] {
        let path = Repo.root + "/hack/images/test.sh"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let prefix = name + "=("
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
              let close = line.lastIndex(of: ")") else {
            throw Missing(description: "\(path) has no line \(prefix)...)")
        }
        return line[line.index(line.startIndex, offsetBy: prefix.count)..<close].split(separator: " ").map(String.init)
    }
}
