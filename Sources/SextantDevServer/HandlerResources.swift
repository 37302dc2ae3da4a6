import Foundation
import SextantJSON
import SextantKubeTypes
import Yams

// The resource verbs: get, list, watch, create, update, patch, delete, and their options.
extension DevAPIHandler {
    struct Target {
        var type: ResourceType
        var namespace: String?
        var name: String?
        var subresource: String?
    }

    func resolveTarget(group: String, version: String, rest: [String]) async throws -> Target {
        var rest = rest
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces", rest[2] != "status", rest[2] != "finalize" {
            namespace = rest[1]
            rest.removeFirst(2)
        }
        let plural = rest[0]
        guard let type = await store.resourceType(group: group, version: version, plural: plural) else {
            throw notFound("/" + ([group.isEmpty ? "api" : "apis/\(group)", version] + rest).joined(separator: "/"))
        }
        if namespace != nil && !type.namespaced {
            throw notFound("\(type.qualifiedName) is not namespaced")
        }
        let name = rest.count > 1 ? rest[1] : nil
        let subresource = rest.count > 2 ? rest[2...].joined(separator: "/") : nil
        if let subresource, !(subresource == "status" && type.hasStatus), !(subresource == "scale" && Self.servesScale(type)) {
            throw APIError(code: 404, reason: "NotFound",
                           message: "the server could not find the requested resource: subresource \"\(subresource)\" of \(type.qualifiedName) is not served by the development API server")
        }
        return Target(type: type, namespace: namespace, name: name, subresource: subresource)
    }

    func resource(_ request: APIRequest, group: String, version: String, rest: [String]) async throws -> APIResponse {
        let request = EventConversion.request(request, group: group)
        let target = try await resolveTarget(group: group, version: version, rest: rest)
        let type = target.type
        let dryRun = request.query["dryRun"] == "All"
        guard let name = target.name else {
            switch request.method {
            case "GET":
                if request.query["watch"] == "true" || request.query["watch"] == "1" {
                    return try await watch(request, target)
                }
                return try await list(request, target)
            case "POST":
                var body = try parseBody(request)
                try checkKind(body, type)
                if type.storageKey == BuiltinResources.crdStorageKey && type.version == "v1beta1" { body = CRDv1beta1.toV1(body) }
                let created = try await store.create(type, namespace: target.namespace, body: Self.storedForm(body, type),
                                                     dryRun: dryRun, writer: fieldWriter(request, type))
                return .json(served(created, type), status: 201)
            case "DELETE":
                let options = try listOptions(request, type)
                let (items, _, _, _) = try await store.list(type, namespace: target.namespace, options: options)
                var deleted: [JSONValue] = []
                let deleteOptions = try self.deleteOptions(request)
                for item in items {
                    let itemName = item[path: ["metadata", "name"]]?.stringValue ?? ""
                    let itemNamespace = item[path: ["metadata", "namespace"]]?.stringValue
                    if case .deleted(let object)? = try? await store.delete(type, namespace: itemNamespace, name: itemName,
                                                                            options: deleteOptions) {
                        deleted.append(served(object, type))
                    }
                }
                return .json(["kind": .string(type.kind + "List"), "apiVersion": .string(type.groupVersion),
                              "metadata": ["resourceVersion": .string(String(await store.currentRevision()))],
                              "items": .array(deleted)])
            default:
                throw APIError.methodNotAllowed("\(request.method) is not supported on the collection \(type.qualifiedName)")
            }
        }
        if target.subresource == "scale" { return try await scale(request, target, name: name, dryRun: dryRun) }
        let statusOnly = target.subresource == "status"
        switch request.method {
        case "GET":
            let format = try OutputFormat.negotiate(request.headers["accept"], shape: .object)
            let object = try await store.get(type, namespace: target.namespace, name: name)
            switch format {
            case .json:
                return .json(served(object, type))
            case .table:
                return .json(TableConverter.table(type, [served(object, type)], listMeta: ["resourceVersion": object[path: ["metadata", "resourceVersion"]] ?? ""], include: includeObject(request)))
            case .partialMetadata(let version):
                return .json(OutputFormat.partialMetadata(object, version: version))
            }
        case "PUT":
            var body = try parseBody(request)
            try checkKind(body, type)
            if type.storageKey == BuiltinResources.crdStorageKey && type.version == "v1beta1" { body = CRDv1beta1.toV1(body) }
            let updated = try await store.update(type, namespace: target.namespace, name: name,
                                                 body: Self.storedForm(body, type), statusOnly: statusOnly, dryRun: dryRun,
                                                 writer: fieldWriter(request, type))
            return .json(served(updated, type))
        case "PATCH":
            return try await patch(request, target, name: name, statusOnly: statusOnly, dryRun: dryRun)
        case "DELETE":
            guard !statusOnly else { throw APIError.methodNotAllowed("DELETE is not supported on the status subresource") }
            switch try await store.delete(type, namespace: target.namespace, name: name, options: deleteOptions(request)) {
            case .pending(let object):
                return .json(served(object, type), status: 200)
            case .deleted(let object):
                if type.returnsDeletedObject {
                    var object = object
                    if type.storageKey == BuiltinResources.namespaceStorageKey {
                        // kube-apiserver answers the namespace as its finalizer leaves it: Terminating.
                        object.set(path: ["metadata", "deletionTimestamp"], to: .string(ObjectStore.now()))
                        object.set(path: ["status", "phase"], to: "Terminating")
                    }
                    return .json(served(object, type), status: 200)
                }
                return .json(APIError.successStatus(name: name, group: type.group, kind: type.plural,
                                                    uid: object[path: ["metadata", "uid"]]?.stringValue ?? ""))
            }
        default:
            throw APIError.methodNotAllowed("\(request.method) is not supported on \(type.qualifiedName)")
        }
    }

    /// The object as served at the requested version (see `servedForm`).
    func served(_ object: JSONValue, _ type: ResourceType) -> JSONValue { Self.servedForm(object, type) }

    func checkKind(_ body: JSONValue, _ type: ResourceType) throws(APIError) {
        guard body.objectValue != nil else { throw APIError.badRequest("the request body must be a JSON object") }
        if let kind = body["kind"]?.stringValue, !kind.isEmpty, kind != type.kind {
            throw APIError.badRequest("the kind \"\(kind)\" of the object does not match the resource \(type.qualifiedName) (kind \(type.kind))")
        }
        if let apiVersion = body["apiVersion"]?.stringValue, !apiVersion.isEmpty {
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            if group != type.group {
                throw APIError.badRequest("the API version \"\(apiVersion)\" of the object does not match the group \"\(type.group)\" of \(type.qualifiedName)")
            }
        }
    }

    func parseBody(_ request: APIRequest) throws(APIError) -> JSONValue {
        guard request.body.count <= Self.maxBodyBytes else {
            throw APIError(code: 413, reason: "RequestEntityTooLarge", message: "request body larger than \(Self.maxBodyBytes) bytes")
        }
        let contentType = (request.headers["content-type"] ?? "application/json").split(separator: ";").first.map(String.init) ?? ""
        let media = contentType.trimmingSpaces.lowercased()
        // A missing type and the form type curl, URLSession and libcurl send by default are read as JSON.
        let known = media.isEmpty || media.hasSuffix("json") || media.hasSuffix("yaml") || media == "*/*"
            || media == "application/x-www-form-urlencoded"
        if !known || (request.method != "PATCH" && media.hasSuffix("+json")) {
            // Protobuf bodies were transcoded before routing; CBOR and other formats are not read.
            throw APIError(code: 415, reason: "UnsupportedMediaType",
                           message: "the body of the request was in an unknown format - accepted media types include: "
                               + "application/json, application/yaml, \(KubeProtobuf.mediaType) (got \(contentType))")
        }
        let firstByte = request.body.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        let looksLikeJSON = firstByte == UInt8(ascii: "{") || firstByte == UInt8(ascii: "[")
        if contentType.hasSuffix("yaml") && !looksLikeJSON {
            return try Self.parseYAML(request.body)
        }
        do {
            return try JSONValue.parse(request.body)
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)")
        }
    }

    static func parseYAML(_ bytes: [UInt8]) throws(APIError) -> JSONValue {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            guard let node = try Yams.compose(yaml: text) else { throw APIError.badRequest("the YAML request body is empty") }
            return try yamlToJSON(node)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest("the request body is not valid YAML: \(error)")
        }
    }

    static func yamlToJSON(_ node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain { return .string(scalar.string) }
            if let v = Bool.construct(from: scalar), ["true", "false", "True", "False", "TRUE", "FALSE"].contains(scalar.string) { return .bool(v) }
            if scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty { return .null }
            if let i = Int64(scalar.string) { return .int(i) }
            if let d = Double(scalar.string), scalar.string.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(d) }
            return .string(scalar.string)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = try yamlToJSON(value) }
            return .object(object)
        case .sequence(let sequence):
            return .array(try sequence.map(yamlToJSON))
        case .alias:
            throw APIError.badRequest("YAML aliases are not supported in request bodies")
        }
    }

    /// The manager of an ordinary write's `Update` managedFields entry.
    func fieldWriter(_ request: APIRequest, _ type: ResourceType, subresource: String? = nil) -> FieldWriter {
        FieldWriter(fieldManager: request.query["fieldManager"], userAgent: request.headers["user-agent"],
                    apiVersion: type.groupVersion, subresource: subresource)
    }

    func listOptions(_ request: APIRequest, _ type: ResourceType) throws(APIError) -> ListOptions {
        var options = ListOptions()
        if let selector = request.query["labelSelector"], !selector.isEmpty { options.labels = try LabelSelector(parsing: selector) }
        if let selector = request.query["fieldSelector"], !selector.isEmpty {
            options.fields = try FieldSelector(parsing: selector, supported: FieldLabels.supported(type))
        }
        if let limit = request.query["limit"], !limit.isEmpty {
            guard let n = Int(limit), n >= 0 else { throw APIError.badRequest("limit: must be a non-negative integer, got \"\(limit)\"") }
            options.limit = n
        }
        options.continueToken = request.query["continue"]
        return options
    }

    func deleteOptions(_ request: APIRequest) throws(APIError) -> DeleteOptions {
        var options = DeleteOptions()
        var body: JSONValue = [:]
        if !request.body.isEmpty { body = try parseBody(request) }
        let propagation = request.query["propagationPolicy"] ?? body["propagationPolicy"]?.stringValue
        if let propagation {
            guard let p = DeleteOptions.Propagation(rawValue: propagation) else {
                throw APIError.badRequest("propagationPolicy: unsupported value \"\(propagation)\": supported values: \"Background\", \"Foreground\", \"Orphan\"")
            }
            options.propagation = p
        } else if body["orphanDependents"]?.boolValue == true {
            options.propagation = .orphan
        }
        options.preconditionResourceVersion = body[path: ["preconditions", "resourceVersion"]]?.stringValue
        options.preconditionUID = body[path: ["preconditions", "uid"]]?.stringValue
        options.dryRun = request.query["dryRun"] == "All" || body["dryRun"]?.arrayValue?.contains("All") == true
        return options
    }

    func includeObject(_ request: APIRequest) -> TableConverter.IncludeObject {
        TableConverter.IncludeObject(rawValue: request.query["includeObject"] ?? "") ?? .metadata
    }

    func list(_ request: APIRequest, _ target: Target) async throws -> APIResponse {
        let type = target.type
        let format = try OutputFormat.negotiate(request.headers["accept"], shape: .list)
        let options = try listOptions(request, type)
        let (items, revision, token, remaining) = try await store.list(type, namespace: target.namespace, options: options)
        var listMeta: [String: JSONValue] = ["resourceVersion": .string(String(revision))]
        if let token { listMeta["continue"] = .string(token) }
        if let remaining { listMeta["remainingItemCount"] = .int(Int64(remaining)) }
        switch format {
        case .json:
            return .json(["kind": .string(type.kind + "List"), "apiVersion": .string(type.groupVersion),
                          "metadata": .object(listMeta), "items": .array(items.map { served($0, type) })])
        case .table:
            return .json(TableConverter.table(type, items.map { served($0, type) }, listMeta: .object(listMeta),
                                              include: includeObject(request)))
        case .partialMetadata(let version):
            return .json(OutputFormat.partialMetadataList(items, listMeta: .object(listMeta), version: version))
        }
    }

    func watch(_ request: APIRequest, _ target: Target) async throws -> APIResponse {
        let type = target.type
        let options = try listOptions(request, type)
        var timeout: Duration?
        if let text = request.query["timeoutSeconds"], !text.isEmpty {
            guard let seconds = Int(text), seconds >= 0 else {
                throw APIError.badRequest("timeoutSeconds: must be a non-negative integer, got \"\(text)\"")
            }
            timeout = .seconds(seconds)
        }
        let format = try OutputFormat.negotiate(request.headers["accept"], shape: .watch)
        let include = includeObject(request)
        let encoder: WatchEncoder = { eventType, object in
            var payload = object
            if eventType == "BOOKMARK" { payload["apiVersion"] = .string(type.groupVersion) }
            if eventType != "ERROR" && eventType != "BOOKMARK" {
                payload = Self.servedForm(payload, type)
                switch format {
                case .json: break
                case .table: payload = TableConverter.table(type, [payload], listMeta: [:], include: include)
                case .partialMetadata(let version): payload = OutputFormat.partialMetadata(payload, version: version)
                }
            }
            var line = Array(#"{"type":""#.utf8)
            line += Array(eventType.utf8)
            line += Array(#"","object":"#.utf8)
            line += payload.serialized(sortedKeys: false)
            line += Array("}\n".utf8)
            return line
        }
        let bookmarks = request.query["allowWatchBookmarks"] == "true"
        let initialEvents = try Self.watchListOption(request, bookmarks: bookmarks)
        let (id, stream) = try await store.watch(
            type, namespace: target.namespace, name: nil, options: options, resourceVersion: request.query["resourceVersion"],
            bookmarks: bookmarks, formatKey: format.cacheKey(include: include),
            encoder: encoder, initialEvents: initialEvents)
        return APIResponse(status: 200, headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                           body: .stream(stream, watchID: id, timeout: timeout))
    }

    func patch(_ request: APIRequest, _ target: Target, name: String, statusOnly: Bool, dryRun: Bool) async throws -> APIResponse {
        let type = target.type
        let contentType = (request.headers["content-type"] ?? "").split(separator: ";").first.map { $0.trimmingSpaces } ?? ""
        let patch = try parseBody(request)
        if contentType == "application/apply-patch+yaml" {
            // Server-side apply: a strategic merge of the applied configuration, with conflicts
            // against the other appliers' fields (ManagedFields).
            guard request.query["fieldManager"].map({ !$0.isEmpty }) ?? false else {
                throw APIError.badRequest("PATCH requests of type application/apply-patch+yaml require a fieldManager")
            }
            if let apiVersion = patch["apiVersion"]?.stringValue, apiVersion != type.groupVersion {
                throw APIError.badRequest("Incorrect version specified in apply patch. Specified patch version: "
                                          + "\(apiVersion), expected: \(type.groupVersion)")
            }
            try checkKind(patch, type)
            let manager = request.query["fieldManager"] ?? ""
            let schema = ApplySchema(type)
            let existing = await store.getIfPresent(type, namespace: target.namespace, name: name)
            guard let current = existing else {
                if statusOnly { throw APIError.notFound(type, name) }
                var body = patch
                body.set(path: ["metadata", "name"], to: .string(name))
                body.set(path: ["metadata", "managedFields"],
                         to: ManagedFields.recordApply(patch, manager: manager, apiVersion: type.groupVersion, in: [:],
                                                       time: ObjectStore.now(), schema: schema))
                let created = try await store.create(type, namespace: target.namespace, body: Self.storedForm(body, type),
                                                     dryRun: dryRun)
                return .json(served(created, type), status: 201)
            }
            let appliedSet = ManagedFields.appliedSet(patch, schema: schema)
            let base = Self.patchBase(current, type)
            let withApplied = ServerSideApply.merge(base, patch, schema: schema)
            var merged = Self.storedForm(ServerSideApply.removingDropped(from: withApplied, manager: manager, appliedSet: appliedSet,
                                                                         current: base), type)
            if patch[path: ["metadata", "resourceVersion"]] == nil {
                merged.set(path: ["metadata", "resourceVersion"], to: current[path: ["metadata", "resourceVersion"]])
            }
            let conflicts = ManagedFields.conflicts(applying: appliedSet, values: merged, manager: manager, in: current)
            if !conflicts.isEmpty && request.query["force"] != "true" { throw ManagedFields.conflictError(conflicts) }
            var owner = current
            owner.set(path: ["metadata", "managedFields"],
                      to: ManagedFields.takingOver(conflicts, in: current[path: ["metadata", "managedFields"]] ?? []))
            let managedFields = ManagedFields.recordApply(patch, manager: manager, apiVersion: type.groupVersion,
                                                          in: owner, time: ObjectStore.now(), schema: schema)
            let updated = try await store.update(type, namespace: target.namespace, name: name, body: merged,
                                                 statusOnly: statusOnly, requireResourceVersion: false, dryRun: dryRun,
                                                 managedFields: managedFields)
            return .json(served(updated, type))
        }
        // Retried on conflict: a patch without a resourceVersion must not fail because of a
        // concurrent write between our read and our write.
        for _ in 0..<5 {
            let stored = try await store.get(type, namespace: target.namespace, name: name)
            let current = Self.patchBase(stored, type)
            var patched: JSONValue
            switch contentType {
            case "application/merge-patch+json":
                guard patch.objectValue != nil else { throw APIError.badRequest("a merge patch must be a JSON object") }
                patched = current.applyingMergePatch(patch)
            case "application/json-patch+json":
                do {
                    patched = try current.applyingJSONPatch(patch)
                } catch {
                    switch error.kind {
                    case .testFailed, .pathNotFound:
                        throw APIError(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request: \(error.message)")
                    case .invalidPatch:
                        throw APIError.badRequest("invalid JSON patch: \(error.message)")
                    }
                }
            case "application/strategic-merge-patch+json":
                if type.isCustom {
                    throw APIError(code: 415, reason: "UnsupportedMediaType",
                                   message: "strategic merge patch is not supported for custom resources: use application/merge-patch+json")
                }
                patched = StrategicMerge.apply(patch, to: current, schema: ApplySchema(type))
            default:
                throw APIError.unsupportedMediaType(contentType)
            }
            patched = Self.storedForm(patched, type)
            let preconditionRV = patched[path: ["metadata", "resourceVersion"]]?.stringValue
            let currentRV = current[path: ["metadata", "resourceVersion"]]?.stringValue
            let explicitRV = preconditionRV != currentRV
            if patched[path: ["metadata", "resourceVersion"]] == nil {
                patched.set(path: ["metadata", "resourceVersion"], to: current[path: ["metadata", "resourceVersion"]])
            }
            let result = await store.tryUpdate(type, namespace: target.namespace, name: name, body: patched,
                                               statusOnly: statusOnly, dryRun: dryRun, writer: fieldWriter(request, type))
            switch result {
            case .success(let updated):
                return .json(served(updated, type))
            case .failure(let error):
                // Retry only conflicts the patch did not ask for with its own resourceVersion.
                if error.code == 409 && error.reason == "Conflict" && !explicitRV { continue }
                throw error
            }
        }
        throw APIError.conflict(type, name, "the object kept changing while the patch was applied")
    }
}
