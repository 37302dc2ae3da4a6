import SextantJSON
import SextantKubeTypes

/// The `managedFields` entry server-side apply records for a field manager. Ownership is
/// recorded, not enforced: there is no conflict detection and fields an applier drops are not
/// removed (docs/dev-apiserver.md).
enum ManagedFields {
    /// `metadata.managedFields` of `object` with the Apply entry of `manager` replaced.
    static func recordApply(_ applied: JSONValue, manager: String, apiVersion: String, in object: JSONValue,
                            time: String) -> JSONValue {
        var entries = (object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).filter {
            !($0["manager"]?.stringValue == manager && $0["operation"]?.stringValue == "Apply")
        }
        var fields = applied.objectValue ?? [:]
        fields.removeValue(forKey: "apiVersion")
        fields.removeValue(forKey: "kind")
        if var metadata = fields["metadata"]?.objectValue {
            for system in ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"] {
                metadata.removeValue(forKey: system)
            }
            fields["metadata"] = metadata.isEmpty ? nil : .object(metadata)
        }
        let set = fieldSet(.object(fields))
        let existing = object[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        if existing.contains(where: {
            $0["manager"]?.stringValue == manager && $0["operation"]?.stringValue == "Apply"
                && $0["apiVersion"]?.stringValue == apiVersion && $0["fieldsV1"] == set
        }) {
            // The same fields applied again: nothing changes, not even the time (no new resourceVersion).
            return .array(existing)
        }
        entries.insert([
            "manager": .string(manager), "operation": "Apply", "apiVersion": .string(apiVersion), "time": .string(time),
            "fieldsType": "FieldsV1", "fieldsV1": set,
        ], at: 0)
        return .array(entries)
    }

    /// The FieldsV1 set of a value: `f:` for object keys, `k:{...}` for items of lists keyed by
    /// their merge keys, `.` for the item itself; other lists are atomic.
    static func fieldSet(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var set: [String: JSONValue] = [:]
            for (key, child) in object { set["f:\(key)"] = fieldSet(child) }
            return .object(set)
        case .array(let items):
            guard let keys = mergeKeys(items) else { return [:] }
            var set: [String: JSONValue] = [:]
            for item in items {
                var key: [String: JSONValue] = [:]
                for k in keys { key[k] = item[k] }
                var itemSet = fieldSet(item).objectValue ?? [:]
                itemSet["."] = [:]
                set["k:" + String(decoding: JSONValue.object(key).serialized(sortedKeys: true), as: UTF8.self)] = .object(itemSet)
            }
            return .object(set)
        default:
            return [:]
        }
    }

    private static func mergeKeys(_ items: [JSONValue]) -> [String]? {
        guard !items.isEmpty, items.allSatisfy({ $0.objectValue != nil }) else { return nil }
        for keys in [["name"], ["containerPort", "protocol"], ["port", "protocol"], ["containerPort"], ["port"], ["mountPath"], ["type"]]
        where items.allSatisfy({ item in keys.allSatisfy { item[$0] != nil } }) {
            return keys
        }
        return nil
    }
}

/// Server-side apply conflicts: a field another manager owns (by an Apply entry) that this apply
/// would change. With `force=true` the applier takes the fields over (removed from the others'
/// sets); otherwise 409 as kube-apiserver words it (`Apply failed with 1 conflict: conflict with
/// "a": .data.x`, one `FieldManagerConflict` cause per field).
extension ManagedFields {
    /// A field of a FieldsV1 set: its path of set keys (`f:data`, `k:{"name":"c"}`).
    typealias FieldPath = [String]

    static func leaves(_ set: JSONValue, prefix: FieldPath = []) -> [FieldPath] {
        guard let object = set.objectValue, !object.isEmpty else { return prefix.isEmpty ? [] : [prefix] }
        var result: [FieldPath] = []
        for (key, child) in object {
            if key == "." { result.append(prefix); continue }
            result += leaves(child, prefix: prefix + [key])
        }
        return result
    }

    /// The value at a set path in an object (`k:` items found by their key fields).
    static func value(at path: FieldPath, in object: JSONValue) -> JSONValue? {
        var current: JSONValue? = object
        for key in path {
            if key.hasPrefix("f:") {
                current = current?[String(key.dropFirst(2))]
            } else if key.hasPrefix("k:"), let wanted = try? JSONValue.parse(Array(key.dropFirst(2).utf8)).objectValue {
                current = current?.arrayValue?.first { item in wanted.allSatisfy { item[$0.key] == $0.value } }
            } else {
                return nil
            }
        }
        return current
    }

    static func display(_ path: FieldPath) -> String {
        path.map { key in
            if key.hasPrefix("f:") { return "." + key.dropFirst(2) }
            if key.hasPrefix("k:"), let wanted = try? JSONValue.parse(Array(key.dropFirst(2).utf8)).objectValue {
                return "[" + wanted.keys.sorted().map { "\($0)=\(wanted[$0].map { String(decoding: $0.serialized(sortedKeys: true), as: UTF8.self) } ?? "")" }.joined(separator: ",") + "]"
            }
            return key
        }.joined()
    }

    static func removing(_ paths: [FieldPath], from set: JSONValue) -> JSONValue {
        var set = set
        for path in paths {
            guard !path.isEmpty else { continue }
            set = remove(path[...], from: set)
        }
        return set
    }

    private static func remove(_ path: ArraySlice<String>, from set: JSONValue) -> JSONValue {
        guard var object = set.objectValue, let first = path.first else { return set }
        if path.count == 1 {
            if let child = object[first]?.objectValue, child.keys.contains(".") {
                var rest = child
                rest["."] = nil
                object[first] = rest.isEmpty ? nil : .object(rest)
            } else {
                object[first] = nil
            }
        } else if let child = object[first] {
            let pruned = remove(path.dropFirst(), from: child)
            object[first] = pruned.objectValue?.isEmpty == true ? nil : pruned
        }
        return .object(object)
    }

    /// Conflicts of `applied` (already a field set) with the other appliers of `object`, as
    /// (manager, path) pairs; a field whose applied value equals the live value is shared, not a conflict.
    static func conflicts(applying appliedSet: JSONValue, values applied: JSONValue, manager: String,
                          in object: JSONValue) -> [(manager: String, path: FieldPath)] {
        let mine = Set(leaves(appliedSet))
        var result: [(String, FieldPath)] = []
        for entry in object[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        where entry["operation"]?.stringValue == "Apply" && entry["manager"]?.stringValue != manager {
            let other = entry["manager"]?.stringValue ?? ""
            for path in leaves(entry["fieldsV1"] ?? [:]) where mine.contains(path) {
                if value(at: path, in: applied) != value(at: path, in: object) { result.append((other, path)) }
            }
        }
        return result.sorted { ($0.0, display($0.1)) < ($1.0, display($1.1)) }
    }

    static func conflictError(_ conflicts: [(manager: String, path: FieldPath)]) -> APIError {
        let text: String
        if conflicts.count == 1 {
            text = "conflict with \"\(conflicts[0].manager)\": \(display(conflicts[0].path))"
        } else {
            var byManager: [String: [String]] = [:]
            for conflict in conflicts { byManager[conflict.manager, default: []].append(display(conflict.path)) }
            text = byManager.keys.sorted().map { manager in
                "conflicts with \"\(manager)\":\n" + (byManager[manager] ?? []).map { "- \($0)" }.joined(separator: "\n")
            }.joined(separator: "\n")
        }
        let causes = conflicts.map { StatusCause(reason: "FieldManagerConflict", message: "conflict with \"\($0.manager)\"", field: display($0.path)) }
        return APIError(code: 409, reason: "Conflict",
                        message: "Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): \(text)",
                        details: StatusDetails(causes: causes))
    }

    /// `managedFields` after a forced apply: the taken fields leave the other managers' sets.
    static func takingOver(_ conflicts: [(manager: String, path: FieldPath)], in managedFields: JSONValue) -> JSONValue {
        guard !conflicts.isEmpty, let entries = managedFields.arrayValue else { return managedFields }
        return .array(entries.compactMap { entry in
            let paths = conflicts.filter { $0.manager == entry["manager"]?.stringValue }.map(\.path)
            guard !paths.isEmpty, entry["operation"]?.stringValue == "Apply" else { return entry }
            var changed = entry
            let remaining = removing(paths, from: entry["fieldsV1"] ?? [:])
            if remaining.objectValue?.isEmpty ?? true { return nil }
            changed["fieldsV1"] = remaining
            return changed
        })
    }

    /// The FieldsV1 set an apply configuration claims (system metadata left out).
    static func appliedSet(_ applied: JSONValue) -> JSONValue {
        var fields = applied.objectValue ?? [:]
        fields.removeValue(forKey: "apiVersion")
        fields.removeValue(forKey: "kind")
        if var metadata = fields["metadata"]?.objectValue {
            for system in ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"] {
                metadata.removeValue(forKey: system)
            }
            fields["metadata"] = metadata.isEmpty ? nil : .object(metadata)
        }
        return fieldSet(.object(fields))
    }
}
