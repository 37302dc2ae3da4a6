import Foundation
import SextantJSON
import SextantKubeTypes

/// Tunables of the object store.
public struct StoreConfiguration: Sendable {
    /// How many past events are kept for watches that resume from a resourceVersion; older
    /// resourceVersions get `410 Expired`, as after an etcd compaction.
    public var historyLimit: Int
    /// Events buffered per watcher; a watcher that falls further behind is closed (the client
    /// re-watches from its last resourceVersion) instead of buffering without bound.
    public var watchBufferLimit: Int

    public init(historyLimit: Int = 10_000, watchBufferLimit: Int = 20_000) {
        self.historyLimit = max(1, historyLimit)
        self.watchBufferLimit = max(16, watchBufferLimit)
    }
}

/// How a watch stream turns an event into the bytes of one line.
public typealias WatchEncoder = @Sendable (_ type: String, _ object: JSONValue) -> [UInt8]

/// Options of a delete request (`metav1.DeleteOptions` plus query parameters).
public struct DeleteOptions: Sendable {
    public enum Propagation: String, Sendable { case background = "Background", foreground = "Foreground", orphan = "Orphan" }
    public var propagation: Propagation?
    public var preconditionResourceVersion: String?
    public var preconditionUID: String?
    public var dryRun = false
    public init() {}
}

/// Filters of a list or watch.
public struct ListOptions: Sendable {
    public var labels = LabelSelector.everything
    public var fields = FieldSelector.everything
    public var limit: Int?
    public var continueToken: String?
    public init() {}
}

/// The outcome of a delete: the object is either gone or waiting for its finalizers.
public enum DeleteOutcome: Sendable {
    case deleted(JSONValue)
    case pending(JSONValue)
}

/// The object store: every object, the global resourceVersion, the event history and the
/// watchers. One actor, so every write and its event fan-out happen in one serial order, which is
/// what gives watches the ordering guarantees of the real server.
public actor ObjectStore {
    struct StoredEvent {
        var revision: Int64
        var storageKey: String
        var type: String
        var object: JSONValue
    }

    struct Watcher {
        var storageKey: String
        var namespace: String?
        var name: String?
        var labels: LabelSelector
        var fields: FieldSelector
        var bookmarks: Bool
        var formatKey: String
        var encoder: WatchEncoder
        var channel: WatchChannel
    }

    public let configuration: StoreConfiguration
    /// storageKey → "namespace/name" → object.
    var objects: [String: [String: JSONValue]] = [:]
    /// Served resource types by "group/version/plural".
    var types: [String: ResourceType] = [:]
    /// Resource types contributed by each CRD, by CRD name.
    var crdTypes: [String: [ResourceType]] = [:]
    /// Owner uid → dependents, for garbage collection.
    var dependents: [String: Set<ObjectRef>] = [:]
    var revision: Int64 = 0
    /// Events newer than `compactedRevision`, oldest first (a ring buffer).
    var history: [StoredEvent] = []
    var historyStart = 0
    var compactedRevision: Int64 = 0
    var watchers: [UInt64: Watcher] = [:]
    var nextWatcherID: UInt64 = 0
    /// Set at shutdown: new watches end at once.
    var refusingWatches = false
    /// Set when something changed since the last snapshot was taken.
    var dirty = false

    struct ObjectRef: Hashable {
        var storageKey: String
        var key: String
    }

    public init(configuration: StoreConfiguration = StoreConfiguration()) {
        self.configuration = configuration
        for type in BuiltinResources.served { types[Self.typeKey(type.group, type.version, type.plural)] = type }
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let type = BuiltinResources.all[0]
            revision += 1
            let object: JSONValue = [
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": ["name": .string(ns), "uid": .string(Self.newUID()), "resourceVersion": .string(String(revision)),
                             "creationTimestamp": .string(Self.now()),
                             "labels": ["kubernetes.io/metadata.name": .string(ns)]],
                "spec": ["finalizers": ["kubernetes"]], "status": ["phase": "Active"],
            ]
            objects[type.storageKey, default: [:]]["/\(ns)"] = object
            revision += 1
            objects[BuiltinResources.serviceAccountStorageKey, default: [:]]["\(ns)/default"] =
                Self.defaultServiceAccount(in: ns, revision: revision)
        }
        compactedRevision = revision
    }

    static func typeKey(_ group: String, _ version: String, _ plural: String) -> String { "\(group)/\(version)/\(plural)" }

    // MARK: Resource types

    public func resourceType(group: String, version: String, plural: String) -> ResourceType? {
        types[Self.typeKey(group, version, plural)]
    }

    public func allResourceTypes() -> [ResourceType] {
        types.values.sorted { ($0.group, $0.version, $0.plural) < ($1.group, $1.version, $1.plural) }
    }

    public func currentRevision() -> Int64 { revision }

    // MARK: Reads

    static func key(_ namespace: String?, _ name: String) -> String { "\(namespace ?? "")/\(name)" }

    public func get(_ type: ResourceType, namespace: String?, name: String) throws(APIError) -> JSONValue {
        guard let object = objects[type.storageKey]?[Self.key(namespace, name)] else {
            throw APIError.notFound(type, name)
        }
        return object
    }

    public func getIfPresent(_ type: ResourceType, namespace: String?, name: String) -> JSONValue? {
        objects[type.storageKey]?[Self.key(namespace, name)]
    }

    /// `update` for patches (no resourceVersion required), with the error as a value.
    func tryUpdate(_ type: ResourceType, namespace: String?, name: String, body: JSONValue, statusOnly: Bool,
                   dryRun: Bool, writer: FieldWriter? = nil) -> Result<JSONValue, APIError> {
        do throws(APIError) {
            return .success(try update(type, namespace: namespace, name: name, body: body, statusOnly: statusOnly,
                                       requireResourceVersion: false, dryRun: dryRun, writer: writer))
        } catch {
            return .failure(error)
        }
    }

    /// Lists objects sorted by namespace and name; `continue` tokens are the last key returned
    /// (so a continued list shows the current state, not a snapshot: documented).
    public func list(_ type: ResourceType, namespace: String?, options: ListOptions)
        throws(APIError) -> (items: [JSONValue], revision: Int64, continueToken: String?, remaining: Int?)
    {
        let all = objects[type.storageKey] ?? [:]
        var after: String?
        if let token = options.continueToken, !token.isEmpty {
            guard let data = Data(base64Encoded: token), let decoded = String(data: data, encoding: .utf8) else {
                throw APIError.badRequest("invalid continue token \"\(token)\"")
            }
            after = decoded
        }
        let prefix = namespace.map { "\($0)/" }
        var keys = all.keys.filter { key in
            (prefix.map { key.hasPrefix($0) } ?? true) && (after.map { key > $0 } ?? true)
        }
        keys.sort()
        var items: [JSONValue] = []
        var lastKey: String?
        var index = 0
        let limit = options.limit.flatMap { $0 > 0 ? $0 : nil }
        while index < keys.count {
            let key = keys[index]
            index += 1
            guard let object = all[key], options.labels.matches(object: object), options.fields.matches(object: object) else {
                continue
            }
            items.append(object)
            lastKey = key
            if let limit, items.count == limit { break }
        }
        var token: String?
        var remaining: Int?
        if let limit, items.count == limit, let lastKey {
            let rest = keys[index...].filter { key in
                guard let object = all[key] else { return false }
                return options.labels.matches(object: object) && options.fields.matches(object: object)
            }.count
            if rest > 0 {
                token = Data(lastKey.utf8).base64EncodedString()
                remaining = rest
            }
        }
        return (items, revision, token, remaining)
    }

    // MARK: Writes

    /// Creates an object; `body` has already been parsed and its kind checked by the handler.
    public func create(_ type: ResourceType, namespace: String?, body: JSONValue, dryRun: Bool = false,
                       writer: FieldWriter? = nil) throws(APIError) -> JSONValue
    {
        var object = body
        object["apiVersion"] = .string(type.groupVersion)
        object["kind"] = .string(type.kind)
        var metadata = object["metadata"]?.objectValue ?? [:]
        if type.namespaced {
            let bodyNamespace = metadata["namespace"]?.stringValue
            if let bodyNamespace, !bodyNamespace.isEmpty, let namespace, bodyNamespace != namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            guard let ns = namespace ?? bodyNamespace, !ns.isEmpty else {
                throw APIError.badRequest("a namespace is required to create \(type.qualifiedName)")
            }
            guard objects[BuiltinResources.namespaceStorageKey]?["/\(ns)"] != nil else {
                throw APIError.notFound(BuiltinResources.all[0], ns)
            }
            metadata["namespace"] = .string(ns)
        } else {
            metadata.removeValue(forKey: "namespace")
        }
        var name = metadata["name"]?.stringValue ?? ""
        if name.isEmpty, let generateName = metadata["generateName"]?.stringValue, !generateName.isEmpty {
            repeat {
                name = generateName + Self.randomSuffix()
            } while objects[type.storageKey]?[Self.key(metadata["namespace"]?.stringValue, name)] != nil
        }
        if let problem = Self.nameProblem(name) {
            throw APIError.invalid(type, name, [StatusCause(reason: name.isEmpty ? "FieldValueRequired" : "FieldValueInvalid",
                                                             message: problem, field: "metadata.name")])
        }
        metadata["name"] = .string(name)
        let ns = metadata["namespace"]?.stringValue
        if objects[type.storageKey]?[Self.key(ns, name)] != nil { throw APIError.alreadyExists(type, name) }
        metadata["uid"] = .string(Self.newUID())
        metadata["creationTimestamp"] = .string(Self.now())
        if type.tracksGeneration { metadata["generation"] = 1 } else { metadata.removeValue(forKey: "generation") }
        metadata.removeValue(forKey: "deletionTimestamp")
        metadata.removeValue(forKey: "deletionGracePeriodSeconds")
        metadata.removeValue(forKey: "resourceVersion")
        metadata.removeValue(forKey: "selfLink")
        object["metadata"] = .object(metadata)
        if type.hasStatus {
            object["status"] = nil
            if type.storageKey == BuiltinResources.namespaceStorageKey { object["status"] = ["phase": "Active"] }
        }
        if type.storageKey == BuiltinResources.serviceStorageKey { object = try allocate(service: object, name: name) }
        if type.storageKey == BuiltinResources.secretStorageKey {
            object = BuiltinStrategies.secret(object)
            if (object["type"]?.stringValue ?? "").isEmpty { object["type"] = "Opaque" }  // the core/v1 Secret defaulting
        }
        if !type.isCustom {
            object = BuiltinDefaults.apply(group: type.group, kind: type.kind, object, creating: true,
                                           uid: metadata["uid"]?.stringValue)
        }
        object = try admitCustom(type, object, name: name)
        var crdServes: [ResourceType] = []
        if type.storageKey == BuiltinResources.crdStorageKey {
            crdServes = try Self.crdTypes(object, name: name)
            object["status"] = Self.crdStatus(object)
        }
        if let writer, object[path: ["metadata", "managedFields"]] == nil,
           let entries = ManagedFields.recordUpdate(old: nil, new: object, writer: writer, statusOnly: false,
                                                    hasStatus: type.hasStatus, time: Self.now(),
                                                    schema: ApplySchema(type)) {
            object.set(path: ["metadata", "managedFields"], to: entries)
        }
        if dryRun { return object }
        revision += 1
        object.set(path: ["metadata", "resourceVersion"], to: .string(String(revision)))
        put(type, object)
        if !crdServes.isEmpty { register(crdName: name, types: crdServes) }
        record(type.storageKey, "ADDED", object)
        if type.storageKey == BuiltinResources.namespaceStorageKey,
           objects[BuiltinResources.serviceAccountStorageKey]?["\(name)/default"] == nil {
            // The service account controller's work: every namespace gets a `default` ServiceAccount.
            revision += 1
            dirty = true
            let account = Self.defaultServiceAccount(in: name, revision: revision)
            objects[BuiltinResources.serviceAccountStorageKey, default: [:]]["\(name)/default"] = account
            record(BuiltinResources.serviceAccountStorageKey, "ADDED", account)
        }
        return object
    }

    /// The `default` ServiceAccount of a namespace, at a new resourceVersion.
    static func defaultServiceAccount(in namespace: String, revision: Int64) -> JSONValue {
        [
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": ["name": "default", "namespace": .string(namespace), "uid": .string(Self.newUID()),
                         "resourceVersion": .string(String(revision)), "creationTimestamp": .string(Self.now())],
        ]
    }

    /// What the Service registry fills in on create: a cluster IP from 10.96.0.0/12 (unless
    /// headless or ExternalName), the single-stack IPv4 fields, default type, session affinity,
    /// traffic policy, port protocol and target port, and an empty load-balancer status.
    func allocate(service: JSONValue, name: String) throws(APIError) -> JSONValue {
        var object = service
        var spec = object["spec"]?.objectValue ?? [:]
        let serviceType = spec["type"]?.stringValue ?? "ClusterIP"
        spec["type"] = .string(serviceType)
        if spec["sessionAffinity"] == nil { spec["sessionAffinity"] = "None" }
        if serviceType != "ExternalName" {
            if spec["clusterIP"]?.stringValue?.isEmpty ?? true {
                spec["clusterIP"] = .string(nextClusterIP())
            }
            spec["clusterIPs"] = [spec["clusterIP"] ?? .null]
            if spec["ipFamilies"] == nil { spec["ipFamilies"] = ["IPv4"] }
            if spec["ipFamilyPolicy"] == nil { spec["ipFamilyPolicy"] = "SingleStack" }
            if spec["internalTrafficPolicy"] == nil { spec["internalTrafficPolicy"] = "Cluster" }
        }
        if let ports = spec["ports"]?.arrayValue {
            spec["ports"] = .array(ports.map { port in
                var port = port
                if port["protocol"] == nil { port["protocol"] = "TCP" }
                if port["targetPort"] == nil, let number = port["port"] { port["targetPort"] = number }
                return port
            })
        }
        object["spec"] = .object(spec)
        object["status"] = ["loadBalancer": [:]]
        return object
    }

    var clusterIPCounter = 0

    func nextClusterIP() -> String {
        clusterIPCounter += 1
        let n = clusterIPCounter % (1 << 20 - 2) + 1
        return "10.\(96 + n >> 16).\((n >> 8) & 0xff).\(n & 0xff)"
    }

    /// Replaces an object (`PUT`), or only its status when `statusOnly`.
    public func update(_ type: ResourceType, namespace: String?, name: String, body: JSONValue, statusOnly: Bool,
                       requireResourceVersion: Bool = true, dryRun: Bool = false,
                       managedFields: JSONValue? = nil, writer: FieldWriter? = nil) throws(APIError) -> JSONValue
    {
        let old = try get(type, namespace: namespace, name: name)
        if let bodyName = body[path: ["metadata", "name"]]?.stringValue, !bodyName.isEmpty, bodyName != name {
            throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if let kind = body["kind"]?.stringValue, !kind.isEmpty, kind != type.kind {
            throw APIError.badRequest("the kind of the object (\(kind)) does not match the resource \(type.qualifiedName) (\(type.kind))")
        }
        let oldRV = old[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        let bodyRV = body[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        if !bodyRV.isEmpty && bodyRV != oldRV {
            throw APIError.conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        if bodyRV.isEmpty && requireResourceVersion && type.isCustom {
            throw APIError.invalid(type, name, [StatusCause(reason: "FieldValueInvalid",
                                                             message: "Invalid value: 0x0: must be specified for an update",
                                                             field: "metadata.resourceVersion")])
        }
        var new: JSONValue
        if statusOnly {
            new = old
            new["status"] = body["status"]
            if let managedFields { new.set(path: ["metadata", "managedFields"], to: managedFields) }
        } else {
            new = body
            new["apiVersion"] = .string(type.groupVersion)
            new["kind"] = .string(type.kind)
            var metadata = new["metadata"]?.objectValue ?? [:]
            let oldMetadata = old["metadata"]?.objectValue ?? [:]
            for system in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                           "generation", "resourceVersion", "managedFields"] {
                metadata[system] = oldMetadata[system]
            }
            if let managedFields { metadata["managedFields"] = managedFields }
            new["metadata"] = .object(metadata)
            if type.storageKey == BuiltinResources.secretStorageKey {
                new = BuiltinStrategies.secret(new)
                if (new["type"]?.stringValue ?? "").isEmpty { new["type"] = "Opaque" }
            }
            if type.storageKey == BuiltinResources.serviceStorageKey {
                new = try allocate(service: BuiltinStrategies.keepAllocated(old: old, new: new), name: name)
            }
            if !type.isCustom {
                new = BuiltinDefaults.apply(group: type.group, kind: type.kind, new, creating: false, uid: nil)
                // A Job's generated selector is immutable; an update that leaves it out keeps it.
                if new[path: ["spec", "selector"]] == nil, let selector = old[path: ["spec", "selector"]],
                   type.group == "batch", type.kind == "Job" {
                    new.set(path: ["spec", "selector"], to: selector)
                }
            }
            if type.hasStatus { new["status"] = old["status"] }
        }
        new = try admitCustom(type, new, name: name)
        if !statusOnly, type.tracksGeneration, Self.specChanged(old, new, hasStatus: type.hasStatus) {
            let generation = old[path: ["metadata", "generation"]]?.intValue ?? 1
            new.set(path: ["metadata", "generation"], to: .int(generation + 1))
        }
        if managedFields == nil, let writer {
            let entries = ManagedFields.recordUpdate(old: old, new: new, writer: writer, statusOnly: statusOnly,
                                                     hasStatus: type.hasStatus, time: Self.now(), schema: ApplySchema(type))
            var metadata = new["metadata"]?.objectValue ?? [:]
            metadata["managedFields"] = entries
            new["metadata"] = .object(metadata)
        }
        // A write that changes nothing keeps the resourceVersion and emits no event, as upstream.
        if new == old { return old }
        var crdServes: [ResourceType] = []
        if type.storageKey == BuiltinResources.crdStorageKey, !statusOnly {
            crdServes = try Self.crdTypes(new, name: name)
            new["status"] = Self.crdStatus(new)
        }
        if dryRun { return new }
        let deleting = new[path: ["metadata", "deletionTimestamp"]] != nil
        let finalizers = new[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        if deleting && finalizers.isEmpty {
            return remove(type, new, propagation: .background)
        }
        revision += 1
        new.set(path: ["metadata", "resourceVersion"], to: .string(String(revision)))
        unindexOwners(type, old)
        put(type, new)
        if !crdServes.isEmpty { register(crdName: name, types: crdServes) }
        record(type.storageKey, "MODIFIED", new)
        return new
    }

    /// Deletes an object: at once when it has no finalizers, else marks it with a deletionTimestamp.
    public func delete(_ type: ResourceType, namespace: String?, name: String, options: DeleteOptions)
        throws(APIError) -> DeleteOutcome
    {
        var object = try get(type, namespace: namespace, name: name)
        if let rv = options.preconditionResourceVersion, rv != object[path: ["metadata", "resourceVersion"]]?.stringValue {
            throw APIError.conflict(type, name, "Precondition failed: ResourceVersion in precondition: \(rv), "
                + "ResourceVersion in object meta: \(object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")")
        }
        if let uid = options.preconditionUID, uid != object[path: ["metadata", "uid"]]?.stringValue {
            throw APIError.conflict(type, name, "Precondition failed: UID in precondition: \(uid), "
                + "UID in object meta: \(object[path: ["metadata", "uid"]]?.stringValue ?? "")")
        }
        if options.dryRun { return .deleted(object) }
        let propagation = options.propagation ?? .background
        let finalizers = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        if !finalizers.isEmpty {
            if object[path: ["metadata", "deletionTimestamp"]] == nil {
                object.set(path: ["metadata", "deletionTimestamp"], to: .string(Self.now()))
                object.set(path: ["metadata", "deletionGracePeriodSeconds"], to: 0)
                revision += 1
                object.set(path: ["metadata", "resourceVersion"], to: .string(String(revision)))
                put(type, object)
                record(type.storageKey, "MODIFIED", object)
            }
            if propagation == .foreground { collectDependents(of: object, propagation: .foreground) }
            return .pending(object)
        }
        return .deleted(remove(type, object, propagation: propagation))
    }

    /// Removes an object for good, emits DELETED and collects what depended on it.
    func remove(_ type: ResourceType, _ object: JSONValue, propagation: DeleteOptions.Propagation) -> JSONValue {
        var object = object
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        objects[type.storageKey]?.removeValue(forKey: Self.key(namespace, name))
        unindexOwners(type, object)
        revision += 1
        object.set(path: ["metadata", "resourceVersion"], to: .string(String(revision)))
        dirty = true
        record(type.storageKey, "DELETED", object)
        collectDependents(of: object, propagation: propagation)
        if type.storageKey == BuiltinResources.namespaceStorageKey { removeContents(ofNamespace: name) }
        if type.storageKey == BuiltinResources.crdStorageKey { unregister(crdName: name) }
        return object
    }

    /// Garbage collection: dependents whose last owner is gone are deleted (or orphaned).
    func collectDependents(of owner: JSONValue, propagation: DeleteOptions.Propagation) {
        guard let uid = owner[path: ["metadata", "uid"]]?.stringValue, let refs = dependents[uid] else { return }
        for ref in refs.sorted(by: { ($0.storageKey, $0.key) < ($1.storageKey, $1.key) }) {
            guard var dependent = objects[ref.storageKey]?[ref.key], let type = anyType(storageKey: ref.storageKey) else { continue }
            let owners = dependent[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
            let remaining = owners.filter { $0["uid"]?.stringValue != uid }
            if propagation == .orphan || !remaining.isEmpty {
                dependent.set(path: ["metadata", "ownerReferences"], to: remaining.isEmpty ? nil : .array(remaining))
                revision += 1
                dependent.set(path: ["metadata", "resourceVersion"], to: .string(String(revision)))
                unindexOwners(type, objects[ref.storageKey]?[ref.key] ?? dependent)
                put(type, dependent)
                record(ref.storageKey, "MODIFIED", dependent)
            } else {
                let name = dependent[path: ["metadata", "name"]]?.stringValue ?? ""
                let namespace = dependent[path: ["metadata", "namespace"]]?.stringValue
                var options = DeleteOptions()
                options.propagation = .background
                _ = try? delete(type, namespace: namespace, name: name, options: options)
            }
        }
    }

    func removeContents(ofNamespace namespace: String) {
        for storageKey in objects.keys.sorted() where storageKey != BuiltinResources.namespaceStorageKey {
            guard let type = anyType(storageKey: storageKey), type.namespaced else { continue }
            for key in (objects[storageKey] ?? [:]).keys.sorted() where key.hasPrefix("\(namespace)/") {
                if let object = objects[storageKey]?[key] { _ = remove(type, object, propagation: .background) }
            }
        }
    }

    func anyType(storageKey: String) -> ResourceType? {
        types.values.first { $0.storageKey == storageKey && $0.version == $0.storageVersion }
            ?? types.values.first { $0.storageKey == storageKey }
    }

    func put(_ type: ResourceType, _ object: JSONValue) {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let key = Self.key(namespace, name)
        objects[type.storageKey, default: [:]][key] = object
        for owner in object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] {
            if let uid = owner["uid"]?.stringValue {
                dependents[uid, default: []].insert(ObjectRef(storageKey: type.storageKey, key: key))
            }
        }
        dirty = true
    }

    func unindexOwners(_ type: ResourceType, _ object: JSONValue) {
        let key = Self.key(object[path: ["metadata", "namespace"]]?.stringValue, object[path: ["metadata", "name"]]?.stringValue ?? "")
        for owner in object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? [] {
            if let uid = owner["uid"]?.stringValue {
                dependents[uid]?.remove(ObjectRef(storageKey: type.storageKey, key: key))
                if dependents[uid]?.isEmpty == true { dependents.removeValue(forKey: uid) }
            }
        }
    }

    // MARK: CRDs

    func admitCustom(_ type: ResourceType, _ object: JSONValue, name: String) throws(APIError) -> JSONValue {
        guard type.isCustom, let schema = type.schema else { return object }
        let (admitted, causes) = SchemaValidator(schema: schema).admit(object)
        if !causes.isEmpty { throw APIError.invalid(type, name, causes) }
        return admitted
    }

    static func crdTypes(_ crd: JSONValue, name: String) throws(APIError) -> [ResourceType] {
        do {
            return try ResourceType.from(crd: crd)
        } catch {
            throw APIError.invalid(BuiltinResources.all.first { $0.kind == "CustomResourceDefinition" } ?? BuiltinResources.all[0],
                                   name, error.causes.map { StatusCause(reason: "FieldValueInvalid", message: $0.message, field: $0.field) })
        }
    }

    /// The status the real apiextensions controller writes: names accepted and established.
    static func crdStatus(_ crd: JSONValue) -> JSONValue {
        let now = JSONValue.string(Self.now())
        let storedVersions = (crd[path: ["spec", "versions"]]?.arrayValue ?? [])
            .filter { $0["storage"]?.boolValue == true }.compactMap { $0["name"] }
        return [
            "acceptedNames": crd[path: ["spec", "names"]] ?? [:],
            "storedVersions": .array(storedVersions),
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now],
                ["type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now],
            ],
        ]
    }

    func register(crdName: String, types newTypes: [ResourceType]) {
        for old in crdTypes[crdName] ?? [] { types.removeValue(forKey: Self.typeKey(old.group, old.version, old.plural)) }
        for type in newTypes { types[Self.typeKey(type.group, type.version, type.plural)] = type }
        crdTypes[crdName] = newTypes
    }

    func unregister(crdName: String) {
        guard let old = crdTypes.removeValue(forKey: crdName), let first = old.first else { return }
        for type in old.sorted(by: { $0.version < $1.version }) where type.version == type.storageVersion || type == first {
            for key in (objects[type.storageKey] ?? [:]).keys.sorted() {
                if let object = objects[type.storageKey]?[key] { _ = remove(type, object, propagation: .background) }
            }
        }
        objects.removeValue(forKey: first.storageKey)
        for type in old { types.removeValue(forKey: Self.typeKey(type.group, type.version, type.plural)) }
    }
}
