import SextantJSON

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
