import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes

/// Reads ConfigMaps and Secrets through the client (once each per preparation), writes volumes
/// and builds each container's command line and environment.
struct PodPreparer {
    let client: KubeClient
    let options: LocalNodeOptions
    let pod: JSONValue
    let plan: PodPlan
    let runtime: any PodRuntime
    private var configMaps: [String: ConfigMap?] = [:]
    private var secrets: [String: Secret?] = [:]

    init(client: KubeClient, options: LocalNodeOptions, pod: JSONValue, plan: PodPlan, runtime: any PodRuntime) {
        self.client = client
        self.runtime = runtime
        self.options = options
        self.pod = pod
        self.plan = plan
    }

    /// Writes every volume and returns the launch spec of every container, by name.
    mutating func prepare() async throws -> [String: LaunchSpec] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: plan.directory, withIntermediateDirectories: true)
        var volumeDirs: [String: String] = [:]
        for (i, volume) in (plan.spec.volumes ?? []).enumerated() {
            volumeDirs[volume.name] = try await materialize(volume, index: i)
        }
        var launches: [String: LaunchSpec] = [:]
        for container in plan.containers {
            let environment = try await environment(for: container)
            launches[container.name] = try runtime.launch(container, pod: plan, volumes: volumeDirs,
                                                          environment: environment, options: options)
        }
        return launches
    }

    // MARK: Volumes

    private mutating func materialize(_ volume: VolumeModel, index: Int) async throws -> String {
        let fm = FileManager.default
        let dir = "\(plan.directory)/volumes/\(volume.name)"
        let field = "spec.volumes[\(index)]"
        if let source = volume.configMap {
            let name = source.name ?? ""
            guard let map = try await configMap(name) else {
                if source.optional == true { return try fresh(dir) }
                throw ContainerConfigError(message: "configmap \"\(name)\" not found (\(field).configMap.name)")
            }
            var files: [String: Data] = [:]
            for (k, v) in map.data ?? [:] { files[k] = Data(v.utf8) }
            for (k, v) in map.binaryData ?? [:] { files[k] = Data(base64Encoded: v) ?? Data() }
            try write(files, items: source.items, optional: source.optional == true, mode: source.defaultMode,
                      into: try fresh(dir), field: "\(field).configMap")
            return dir
        }
        if let source = volume.secret {
            let name = source.secretName ?? ""
            guard let secret = try await secret(name) else {
                if source.optional == true { return try fresh(dir) }
                throw ContainerConfigError(message: "secret \"\(name)\" not found (\(field).secret.secretName)")
            }
            try write(secretValues(secret), items: source.items, optional: source.optional == true,
                      mode: source.defaultMode, into: try fresh(dir), field: "\(field).secret")
            return dir
        }
        if volume.emptyDir != nil {
            // Writable by the image's user too (Sextant's images run as 65532).
            let made = try fresh(dir)
            try? fm.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: made)
            return made
        }
        if let source = volume.hostPath {
            try fm.createDirectory(atPath: source.path, withIntermediateDirectories: true)
            return source.path
        }
        if let claim = volume.persistentVolumeClaim {
            let path = "\(options.workDirectory)/pvc/\(plan.namespace)/\(claim.claimName)"
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
            try? fm.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: path)
            return path
        }
        throw Unschedulable(message: "\(field): unsupported volume type")
    }

    private func fresh(_ dir: String) throws -> String {
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    private func write(_ files: [String: Data], items: [KeyToPath]?, optional: Bool, mode: Int?, into dir: String,
                       field: String) throws {
        var targets: [(String, Data, Int?)] = []
        if let items {
            for (i, item) in items.enumerated() {
                guard let data = files[item.key] else {
                    if optional { continue }
                    throw ContainerConfigError(message: "\(field).items[\(i)].key: key \"\(item.key)\" not found")
                }
                let parts = item.path.split(separator: "/")
                guard !item.path.hasPrefix("/"), !parts.contains(".."), !parts.isEmpty else {
                    throw Unschedulable(message: "\(field).items[\(i)].path: \"\(item.path)\" must be a relative path without '..'")
                }
                targets.append((item.path, data, item.mode))
            }
        } else {
            targets = files.map { ($0.key, $0.value, nil) }
        }
        for (path, data, itemMode) in targets {
            let file = dir + "/" + path
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: file))
            if let m = itemMode ?? mode {
                try? FileManager.default.setAttributes([.posixPermissions: m], ofItemAtPath: file)
            }
        }
    }

    private func secretValues(_ secret: Secret) -> [String: Data] {
        var files: [String: Data] = [:]
        for (k, v) in secret.data ?? [:] { files[k] = Data(base64Encoded: v) ?? Data(v.utf8) }
        for (k, v) in secret.stringData ?? [:] { files[k] = Data(v.utf8) }
        return files
    }

    // MARK: Environment

    private mutating func environment(for container: ContainerPlan) async throws -> [String: String] {
        var env: [String: String] = [:]
        env["HOSTNAME"] = plan.name
        let field = "spec.containers[\(container.index)] (\(container.name))"
        for (i, source) in (container.spec.envFrom ?? []).enumerated() {
            let prefix = source.prefix ?? ""
            if let ref = source.configMapRef {
                guard let map = try await configMap(ref.name ?? "") else {
                    if ref.optional == true { continue }
                    throw ContainerConfigError(message: "configmap \"\(ref.name ?? "")\" not found (\(field).envFrom[\(i)].configMapRef)")
                }
                for (k, v) in map.data ?? [:] { env[prefix + k] = v }
            } else if let ref = source.secretRef {
                guard let secret = try await secret(ref.name ?? "") else {
                    if ref.optional == true { continue }
                    throw ContainerConfigError(message: "secret \"\(ref.name ?? "")\" not found (\(field).envFrom[\(i)].secretRef)")
                }
                for (k, v) in secretValues(secret) { env[prefix + k] = String(decoding: v, as: UTF8.self) }
            }
        }
        for (i, variable) in (container.spec.env ?? []).enumerated() {
            let at = "\(field).env[\(i)] (\(variable.name))"
            if let from = variable.valueFrom {
                if let ref = from.fieldRef {
                    env[variable.name] = try fieldValue(ref.fieldPath, field: at)
                } else if let ref = from.configMapKeyRef {
                    let map = try await configMap(ref.name ?? "")
                    if let value = map?.data?[ref.key] {
                        env[variable.name] = value
                    } else if ref.optional != true {
                        throw ContainerConfigError(message: map == nil
                            ? "configmap \"\(ref.name ?? "")\" not found (\(at).valueFrom.configMapKeyRef)"
                            : "key \"\(ref.key)\" not found in configmap \"\(ref.name ?? "")\" (\(at).valueFrom.configMapKeyRef)")
                    }
                } else if let ref = from.secretKeyRef {
                    let secret = try await secret(ref.name ?? "")
                    if let secret, let value = secretValues(secret)[ref.key] {
                        env[variable.name] = String(decoding: value, as: UTF8.self)
                    } else if ref.optional != true {
                        throw ContainerConfigError(message: secret == nil
                            ? "secret \"\(ref.name ?? "")\" not found (\(at).valueFrom.secretKeyRef)"
                            : "key \"\(ref.key)\" not found in secret \"\(ref.name ?? "")\" (\(at).valueFrom.secretKeyRef)")
                    }
                } else {
                    throw Unschedulable(message: "\(at).valueFrom: only fieldRef, configMapKeyRef and secretKeyRef are emulated")
                }
            } else {
                env[variable.name] = expandVariables(variable.value ?? "", env)
            }
        }
        return env
    }

    private func fieldValue(_ path: String, field: String) throws -> String {
        switch path {
        case "metadata.name": return plan.name
        case "metadata.namespace": return plan.namespace
        case "metadata.uid": return plan.uid
        case "spec.nodeName": return options.nodeName
        case "spec.serviceAccountName": return plan.spec.serviceAccountName ?? "default"
        case "status.podIP", "status.hostIP": return "127.0.0.1"
        default:
            for (prefix, values) in [("metadata.labels", pod.labels), ("metadata.annotations", pod.annotations)]
            where path.hasPrefix(prefix + "['") && path.hasSuffix("']") {
                let key = String(path.dropFirst(prefix.count + 2).dropLast(2))
                return values[key] ?? ""
            }
            throw Unschedulable(message: "\(field).valueFrom.fieldRef.fieldPath: \"\(path)\" is not supported")
        }
    }

    private mutating func configMap(_ name: String) async throws -> ConfigMap? {
        if let cached = configMaps[name] { return cached }
        let found: ConfigMap?
        do {
            found = try await client.get(ConfigMap.self, name: name, namespace: plan.namespace)
        } catch where error.isKube(.notFound) {
            found = nil
        }
        configMaps[name] = found
        return found
    }

    private mutating func secret(_ name: String) async throws -> Secret? {
        if let cached = secrets[name] { return cached }
        let found: Secret?
        do {
            found = try await client.get(Secret.self, name: name, namespace: plan.namespace)
        } catch where error.isKube(.notFound) {
            found = nil
        }
        secrets[name] = found
        return found
    }
}
