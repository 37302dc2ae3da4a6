import SextantJSON
import SextantKubeTypes

/// Who writes an object with an ordinary request (create, PUT, non-apply PATCH): the manager of
/// its `Update` managedFields entry, from `fieldManager` or the User-Agent's program name.
public struct FieldWriter: Sendable, Equatable {
    public var manager: String
    public var apiVersion: String
    /// `scale` for writes through the scale subresource: they own only `.spec.replicas`, in an entry
    /// of their own (`subresource: scale`, the parent's apiVersion), as kube-apiserver's ScaleHandler
    /// records them. Status writes are told apart by the store (`statusOnly`).
    public var subresource: String?

    public init(manager: String, apiVersion: String) {
        self.manager = manager
        self.apiVersion = apiVersion
    }

    /// kube-apiserver's choice: the `fieldManager` parameter, else the User-Agent up to its first
    /// `/` (`kubectl-edit/v1.36.3 (linux/amd64) ...` is `kubectl-edit`), at most 128 characters.
    public init(fieldManager: String?, userAgent: String?, apiVersion: String, subresource: String? = nil) {
        self.subresource = subresource
        if let fieldManager, !fieldManager.isEmpty {
            manager = fieldManager
        } else {
            let agent = userAgent ?? ""
            manager = String((agent.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").prefix(128))
        }
        self.apiVersion = apiVersion
    }
}

/// The `managedFields` entries server-side apply records: `Apply` entries for appliers, `Update`
/// entries for every other writer (docs/dev-apiserver.md).
enum ManagedFields {
    /// `metadata.managedFields` of `object` with the Apply entry of `manager` replaced.
    static func recordApply(_ applied: JSONValue, manager: String, apiVersion: String, in object: JSONValue,
                            time: String, schema: ApplySchema = .untyped) -> JSONValue {
        var entries = (object[path: ["metadata", "managedFields"]]?.arrayValue ?? []).filter {
            !($0["manager"]?.stringValue == manager && $0["operation"]?.stringValue == "Apply")
        }
        let set = appliedSet(applied, schema: schema)
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

    /// The FieldsV1 set of a value: `f:` for object keys, `k:{...}` for items of map lists (keyed
    /// by the schema's list-map keys, defaulted where an item leaves one out), `v:` for
    /// items of sets, `.` for the item itself; atomic lists are one field.
    static func fieldSet(_ value: JSONValue, schema: ApplySchema = .untyped) -> JSONValue {
        switch value {
        case .object(let object):
            if schema.isAtomicObject { return [:] }
            var set: [String: JSONValue] = [:]
            for (key, child) in object { set["f:\(key)"] = fieldSet(child, schema: schema.child(key)) }
            return .object(set)
        case .array(let items):
            var set: [String: JSONValue] = [:]
            switch schema.listShape(items) {
            case .atomic:
                return [:]
            case .set:
                for item in items { set["v:" + String(decoding: item.serialized(sortedKeys: true), as: UTF8.self)] = [:] }
            case .map(let keys):
                for item in items {
                    let key = schema.items.itemKey(item, keys)
                    var itemSet = fieldSet(item, schema: schema.items).objectValue ?? [:]
                    itemSet["."] = [:]
                    set["k:" + String(decoding: JSONValue.object(key).serialized(sortedKeys: true), as: UTF8.self)] = .object(itemSet)
                }
            }
            return .object(set)
        default:
            return [:]
        }
    }

    /// The index of the list item a `k:{...}` or `v:...` set key names.
    static func itemIndex(_ key: String, in items: [JSONValue]) -> Int? {
        if key.hasPrefix("k:"), let wanted = try? JSONValue.parse(Array(key.dropFirst(2).utf8)).objectValue {
            return items.firstIndex { item in wanted.allSatisfy { item[$0.key] == $0.value } }
        }
        if key.hasPrefix("v:"), let wanted = try? JSONValue.parse(Array(key.dropFirst(2).utf8)) {
            return items.firstIndex(of: wanted)
        }
        return nil
    }

    static func mergeKeys(_ items: [JSONValue]) -> [String]? {
        guard !items.isEmpty, items.allSatisfy({ $0.objectValue != nil }) else { return nil }
        for keys in [["name"], ["containerPort", "protocol"], ["port", "protocol"], ["containerPort"], ["port"], ["mountPath"], ["type"]]
        where items.allSatisfy({ item in keys.allSatisfy { item[$0] != nil } }) {
            return keys
        }
        return nil
    }
}

extension ManagedFields {
    /// `metadata.managedFields` after an ordinary write from `old` (nil on create) to `new`: the
    /// writer's `Update` entry (per manager, apiVersion and subresource) gains the fields it added
    /// or changed, which leave every other entry (an update always wins); fields the write removed
    /// leave every entry. A status write (`statusOnly`) touches only `.status`, a main-resource
    /// write of a kind with a status subresource everything else. nil when no entry is left.
    static func recordUpdate(old: JSONValue?, new: JSONValue, writer: FieldWriter, statusOnly: Bool, hasStatus: Bool,
                             time: String, schema: ApplySchema = .untyped) -> JSONValue? {
        let replicas: FieldPath = ["f:spec", "f:replicas"]
        let scaleOnly = !statusOnly && writer.subresource == "scale"
        func inScope(_ path: FieldPath) -> Bool {
            if scaleOnly { return path.starts(with: replicas) }
            guard hasStatus || statusOnly else { return true }
            return (path.first == "f:status") == statusOnly
        }
        var scoped = appliedSet(new, schema: schema)
        if scaleOnly {
            scoped = scoped[path: replicas] == nil ? [:] : ["f:spec": ["f:replicas": [:]]]
        } else if statusOnly { scoped = ["f:status": scoped["f:status"] ?? [:]] } else if hasStatus, var object = scoped.objectValue {
            object["f:status"] = nil
            scoped = .object(object)
        }
        let changed = leaves(scoped).filter { path in
            let before = old.flatMap { value(at: path, in: $0) }
            // A list item itself (`.`) is new only when it was missing; its fields count apart.
            if let last = path.last, last.hasPrefix("k:") || last.hasPrefix("v:") { return before == nil }
            return before != value(at: path, in: new)
        }
        var entries = (old ?? new)[path: ["metadata", "managedFields"]]?.arrayValue ?? []
        if changed.isEmpty {
            // Nothing this writer changed; drop only what the write removed.
            let pruned = pruning(entries, removedIn: new, inScope: inScope)
            if pruned.isEmpty { return nil }
            return .array(pruned)
        }
        let subresource: String? = statusOnly ? "status" : scaleOnly ? "scale" : nil
        func isMine(_ entry: JSONValue) -> Bool {
            entry["manager"]?.stringValue == writer.manager && entry["operation"]?.stringValue == "Update"
                && entry["apiVersion"]?.stringValue == writer.apiVersion && entry["subresource"]?.stringValue == subresource
        }
        let mineSet = entries.first(where: isMine)?["fieldsV1"] ?? [:]
        entries = entries.filter { !isMine($0) }.compactMap { entry in
            let remaining = removing(changed, from: entry["fieldsV1"] ?? [:])
            if remaining.objectValue?.isEmpty ?? true { return nil }
            var entry = entry
            entry["fieldsV1"] = remaining
            return entry
        }
        var mine: JSONValue = [
            "manager": .string(writer.manager), "operation": "Update", "apiVersion": .string(writer.apiVersion),
            "time": .string(time), "fieldsType": "FieldsV1", "fieldsV1": adding(changed, to: mineSet),
        ]
        if let subresource { mine["subresource"] = .string(subresource) }
        entries.append(mine)
        let pruned = pruning(entries, removedIn: new, inScope: inScope)
        if pruned.isEmpty { return nil }
            return .array(pruned)
    }

    /// Entries without the fields `object` no longer has (within scope); empty entries dropped.
    private static func pruning(_ entries: [JSONValue], removedIn object: JSONValue, inScope: (FieldPath) -> Bool) -> [JSONValue] {
        entries.compactMap { entry in
            let set = entry["fieldsV1"] ?? [:]
            let gone = leaves(set).filter { inScope($0) && value(at: $0, in: object) == nil }
            guard !gone.isEmpty else { return entry }
            let remaining = removing(gone, from: set)
            if remaining.objectValue?.isEmpty ?? true { return nil }
            var entry = entry
            entry["fieldsV1"] = remaining
            return entry
        }
    }

    static func adding(_ paths: [FieldPath], to set: JSONValue) -> JSONValue {
        var set = set
        for path in paths where !path.isEmpty { set = add(path[...], to: set) }
        return set
    }

    private static func add(_ path: ArraySlice<String>, to set: JSONValue) -> JSONValue {
        var object = set.objectValue ?? [:]
        guard let first = path.first else { return set }
        if path.count == 1 {
            if first.hasPrefix("k:") {
                var child = object[first]?.objectValue ?? [:]
                child["."] = [:]
                object[first] = .object(child)
            } else if object[first] == nil {
                object[first] = [:]
            }
        } else {
            object[first] = add(path.dropFirst(), to: object[first] ?? [:])
        }
        return .object(object)
    }

    /// How kube-apiserver names a manager in a conflict: `"alice"` for an applier,
    /// `"kubectl-edit" using v1` for an updater, ` with subresource "status"` for a subresource.
    static func identity(_ entry: JSONValue) -> String {
        var text = "\"\(entry["manager"]?.stringValue ?? "")\""
        if let subresource = entry["subresource"]?.stringValue, !subresource.isEmpty {
            text += " with subresource \"\(subresource)\""
        }
        if entry["operation"]?.stringValue == "Update" { text += " using \(entry["apiVersion"]?.stringValue ?? "")" }
        return text
    }
}

/// Server-side apply conflicts: a field another manager owns (by an Apply or Update entry) that this apply
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
            } else if let items = current?.arrayValue, let index = itemIndex(key, in: items) {
                current = items[index]
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
            if key.hasPrefix("v:") { return "[=" + key.dropFirst(2) + "]" }
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
                if rest.isEmpty { object.removeValue(forKey: first) } else { object[first] = .object(rest) }
            } else {
                object[first] = nil
            }
        } else if let child = object[first] {
            let pruned = remove(path.dropFirst(), from: child)
            // Not a ternary: `nil` there would be JSONValue's nil literal, a stored `null`.
            if pruned.objectValue?.isEmpty == true { object.removeValue(forKey: first) } else { object[first] = pruned }
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
        where !(entry["operation"]?.stringValue == "Apply" && entry["manager"]?.stringValue == manager) {
            let other = identity(entry)
            // A list item itself (`k:`/`v:`) is a membership, never a value conflict; its fields are.
            for path in leaves(entry["fieldsV1"] ?? [:]) where mine.contains(path) && !isItem(path) {
                if value(at: path, in: applied) != value(at: path, in: object) { result.append((other, path)) }
            }
        }
        return result.sorted { ($0.0, display($0.1)) < ($1.0, display($1.1)) }
    }

    static func isItem(_ path: FieldPath) -> Bool {
        guard let last = path.last else { return false }
        return last.hasPrefix("k:") || last.hasPrefix("v:")
    }

    static func conflictError(_ conflicts: [(manager: String, path: FieldPath)]) -> APIError {
        let text: String
        if conflicts.count == 1 {
            text = "conflict with \(conflicts[0].manager): \(display(conflicts[0].path))"
        } else {
            var byManager: [String: [String]] = [:]
            for conflict in conflicts { byManager[conflict.manager, default: []].append(display(conflict.path)) }
            text = byManager.keys.sorted().map { manager in
                "conflicts with \(manager):\n" + (byManager[manager] ?? []).map { "- \($0)" }.joined(separator: "\n")
            }.joined(separator: "\n")
        }
        let causes = conflicts.map { StatusCause(reason: "FieldManagerConflict", message: "conflict with \($0.manager)", field: display($0.path)) }
        return APIError(code: 409, reason: "Conflict",
                        message: "Apply failed with \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s"): \(text)",
                        details: StatusDetails(causes: causes))
    }

    /// `managedFields` after a forced apply: the taken fields leave the other managers' sets.
    static func takingOver(_ conflicts: [(manager: String, path: FieldPath)], in managedFields: JSONValue) -> JSONValue {
        guard !conflicts.isEmpty, let entries = managedFields.arrayValue else { return managedFields }
        return .array(entries.compactMap { entry in
            let paths = conflicts.filter { $0.manager == identity(entry) }.map(\.path)
            guard !paths.isEmpty else { return entry }
            var changed = entry
            let remaining = removing(paths, from: entry["fieldsV1"] ?? [:])
            if remaining.objectValue?.isEmpty ?? true { return nil }
            changed["fieldsV1"] = remaining
            return changed
        })
    }

    /// The FieldsV1 set an apply configuration claims (system metadata left out).
    static func appliedSet(_ applied: JSONValue, schema: ApplySchema = .untyped) -> JSONValue {
        var fields = applied.objectValue ?? [:]
        fields.removeValue(forKey: "apiVersion")
        fields.removeValue(forKey: "kind")
        if var metadata = fields["metadata"]?.objectValue {
            for system in ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"] {
                metadata.removeValue(forKey: system)
            }
            if metadata.isEmpty { fields.removeValue(forKey: "metadata") } else { fields["metadata"] = .object(metadata) }
        }
        return fieldSet(.object(fields), schema: schema)
    }
}

