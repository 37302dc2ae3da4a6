import Foundation
import SextantJSON
import SextantKubeTypes

// Persistence: a snapshot of every object and the resourceVersion counter, and its restore.
extension ObjectStore {
    /// A snapshot of every object and the resourceVersion counter, or nil when nothing changed.
    public func snapshotIfDirty() -> [UInt8]? {
        guard dirty else { return nil }
        dirty = false
        var all: [JSONValue] = []
        for storageKey in objects.keys.sorted() {
            for key in (objects[storageKey] ?? [:]).keys.sorted() {
                if let object = objects[storageKey]?[key] {
                    all.append(["storageKey": .string(storageKey), "object": object])
                }
            }
        }
        let snapshot: JSONValue = ["revision": .int(revision), "objects": .array(all)]
        return snapshot.serialized(sortedKeys: false)
    }

    /// Restores a snapshot taken by `snapshotIfDirty` (CRDs first, so their types are served).
    public func restore(_ bytes: [UInt8]) throws {
        let snapshot = try JSONValue.parse(bytes)
        guard let rev = snapshot["revision"]?.intValue, let entries = snapshot["objects"]?.arrayValue else {
            throw APIError.badRequest("snapshot is missing revision or objects")
        }
        objects.removeAll()
        dependents.removeAll()
        for entry in entries {
            guard let storageKey = entry["storageKey"]?.stringValue, let object = entry["object"] else { continue }
            let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
            objects[storageKey, default: [:]][Self.key(object[path: ["metadata", "namespace"]]?.stringValue, name)] = object
            if storageKey == BuiltinResources.crdStorageKey, let served = try? ResourceType.from(crd: object) {
                register(crdName: name, types: served)
            }
        }
        for (storageKey, entries) in objects {
            guard let type = anyType(storageKey: storageKey) else { continue }
            for object in entries.values { put(type, object) }
        }
        revision = rev
        compactedRevision = rev
        history.removeAll()
        historyStart = 0
        dirty = false
    }

    // MARK: Helpers

    static func specChanged(_ old: JSONValue, _ new: JSONValue, hasStatus: Bool) -> Bool {
        var a = old.objectValue ?? [:]
        var b = new.objectValue ?? [:]
        for key in ["metadata", "status"] where key == "metadata" || hasStatus {
            a.removeValue(forKey: key)
            b.removeValue(forKey: key)
        }
        return a != b
    }

    /// DNS-1123 subdomain check, the rule most kinds use for names.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "Required value: name or generateName is required" }
        if name.utf8.count > 253 { return "Invalid value: \"\(name)\": must be no more than 253 characters" }
        let ok = name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        let edges = name.first.map { $0.isLetter || $0.isNumber } == true && name.last.map { $0.isLetter || $0.isNumber } == true
        if !ok || !edges {
            return "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                + "characters, '-' or '.', and must start and end with an alphanumeric character"
        }
        return nil
    }

    static func newUID() -> String { UUID().uuidString.lowercased() }

    static func randomSuffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement() ?? "x" })
    }

    static func now() -> String { rfc3339(Date()) }

    static func rfc3339(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}
