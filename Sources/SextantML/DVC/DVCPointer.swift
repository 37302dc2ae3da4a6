// DVC (dvc.org) pointers: a `.dvc` file or a `dvc.lock` stage output names a file by its MD5 and
// size; the bytes live in a DVC remote under `files/md5/<first 2 hex>/<other 30 hex>` (DVC 3).
// Pure: pointer text in, the object's remote location out; DVCSource does the reading.
import Foundation
import Yams

/// One tracked output: what DVC recorded about it.
public struct DVCOutput: Sendable, Equatable {
    public var path: String
    public var md5: String
    public var size: Int?
}

public enum DVCPointer {
    /// The outputs of a `.dvc` file (`outs:`) or of every stage of a `dvc.lock` (`stages.*.outs`).
    /// `name` names the pointer in errors.
    public static func outputs(yaml text: String, name: String) throws -> [DVCOutput] {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw TrainerError.badInput("data: DVC pointer \(name): invalid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw TrainerError.badInput("data: DVC pointer \(name): expected a YAML mapping") }
        var outs: [(Node, String)] = []
        if let list = mapping["outs"]?.sequence {
            outs = list.map { ($0, "outs") }
        } else if let stages = mapping["stages"]?.mapping {
            for (stage, body) in stages {
                for out in body.mapping?["outs"]?.sequence ?? [] { outs.append((out, "stages.\(stage.string ?? "?").outs")) }
            }
        } else {
            throw TrainerError.badInput("data: DVC pointer \(name): neither 'outs' (a .dvc file) nor 'stages' (dvc.lock)")
        }
        return try outs.enumerated().map { i, entry in
            let (node, where_) = entry
            func fail(_ m: String) -> TrainerError { .badInput("data: DVC pointer \(name): \(where_)[\(i)]: \(m)") }
            guard let out = node.mapping, let path = out["path"]?.string else { throw fail("no path") }
            guard let md5 = out["md5"]?.string else {
                throw fail("'\(path)' has no md5 (only md5-addressed outputs can be fetched)")
            }
            if md5.hasSuffix(".dir") {
                throw fail("'\(path)' is a directory (md5 \(md5)); point the TrainingJob at one file of it (its own .dvc file or dvc.lock entry)")
            }
            guard md5.count == 32, md5.allSatisfy({ $0.isHexDigit }) else { throw fail("md5 '\(md5)' is not 32 hex digits") }
            // DVC 2 outputs lack `hash: md5`: their md5 was computed after converting CRLF to LF
            // (md5-dos2unix) and they sit at <xx>/<rest> of the remote, not files/md5/.
            guard out["hash"]?.string == "md5" else {
                throw fail("'\(path)' was tracked by DVC 2 (no 'hash: md5'; its md5 is md5-dos2unix); run `dvc cache migrate --dvc-files` with DVC 3 and push again")
            }
            var size: Int?
            if let s = out["size"] {
                guard let n = s.int, n >= 0 else { throw fail("size '\(s.string ?? "?")' is not a byte count") }
                size = n
            }
            return DVCOutput(path: path, md5: md5.lowercased(), size: size)
        }
    }

    /// The output named `path` (or the only one when `path` is nil).
    public static func select(_ outputs: [DVCOutput], path: String?, name: String) throws -> DVCOutput {
        if let path {
            guard let o = outputs.first(where: { $0.path == path }) else {
                throw TrainerError.badInput("data: DVC pointer \(name) has no output '\(path)' (outputs: \(outputs.map(\.path).joined(separator: ", ")))")
            }
            return o
        }
        guard outputs.count == 1, let only = outputs.first else {
            throw TrainerError.badInput("data: DVC pointer \(name) has \(outputs.count) outputs (\(outputs.map(\.path).joined(separator: ", "))); name one with data.dvc.path")
        }
        return only
    }

    /// Where DVC 3 keeps the object in a remote.
    public static func objectURI(remote: String, md5: String) -> String {
        DataSource.join(remote, "files/md5/\(md5.prefix(2))/\(md5.dropFirst(2))")
    }

    /// The default remote's URL from a DVC repo's `.dvc/config` (and `.dvc/config.local`, which
    /// overrides it): `[core] remote = name` and `['remote "name"'] url = ...`. A relative local
    /// URL is relative to the `.dvc` directory, as DVC resolves it.
    public static func defaultRemote(config: String, local: String?, dvcDirectory: String) -> String? {
        var sections: [String: [String: String]] = [:]
        for text in [config, local ?? ""] {
            var section = ""
            for raw in text.split(whereSeparator: \.isNewline) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
                if line.hasPrefix("[") && line.hasSuffix("]") {
                    section = String(line.dropFirst().dropLast()).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
                    continue
                }
                guard let eq = line.firstIndex(of: "=") else { continue }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                sections[section, default: [:]][key] = value
            }
        }
        guard let name = sections["core"]?["remote"], let url = sections["remote \"\(name)\""]?["url"] else { return nil }
        if url.contains("://") || url.hasPrefix("/") { return url }
        return (URL(fileURLWithPath: dvcDirectory).appendingPathComponent(url).standardizedFileURL.path)
    }
}
