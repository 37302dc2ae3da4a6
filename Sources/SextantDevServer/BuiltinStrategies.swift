import Foundation
import SextantJSON

/// What kube-apiserver's registries do to some built-in kinds on every write (create and update),
/// besides the create-only allocation of `ObjectStore.allocate(service:)`.
enum BuiltinStrategies {
    /// core/v1 Secret: `stringData` is write-only. Its entries are written into `data` as base64,
    /// over `data`'s entries of the same key, and it is never stored or answered
    /// (`Convert_v1_Secret_To_core_Secret`).
    static func secret(_ object: JSONValue) -> JSONValue {
        guard let stringData = object["stringData"] else { return object }
        var object = object
        object["stringData"] = nil
        guard let entries = stringData.objectValue, !entries.isEmpty else { return object }
        var data = object["data"]?.objectValue ?? [:]
        for (key, value) in entries {
            data[key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
        }
        object["data"] = .object(data)
        return object
    }

    /// Service update: the allocated values an update leaves out are kept, as the Service
    /// registry's `patchAllocatedValues` does — `clusterIP`/`clusterIPs` (unless the new type is
    /// ExternalName), each port's `nodePort` (matched by port and protocol) and
    /// `healthCheckNodePort`. A `kubectl replace` of the original manifest keeps its cluster IP.
    static func keepAllocated(old: JSONValue, new: JSONValue) -> JSONValue {
        guard var spec = new["spec"]?.objectValue, let oldSpec = old["spec"]?.objectValue else { return new }
        let newType = spec["type"]?.stringValue ?? "ClusterIP"
        if newType != "ExternalName" {
            if spec["clusterIP"]?.stringValue?.isEmpty ?? true, let ip = oldSpec["clusterIP"] { spec["clusterIP"] = ip }
            if (spec["clusterIPs"]?.arrayValue ?? []).isEmpty, let ips = oldSpec["clusterIPs"] { spec["clusterIPs"] = ips }
        }
        if newType == "NodePort" || newType == "LoadBalancer", let ports = spec["ports"]?.arrayValue {
            let oldPorts = oldSpec["ports"]?.arrayValue ?? []
            spec["ports"] = .array(ports.map { port in
                guard port["nodePort"] == nil else { return port }
                let protocolName = port["protocol"]?.stringValue ?? "TCP"
                let match = oldPorts.first { $0["port"] == port["port"] && ($0["protocol"]?.stringValue ?? "TCP") == protocolName }
                var port = port
                if let nodePort = match?["nodePort"] { port["nodePort"] = nodePort }
                return port
            })
        }
        if spec["healthCheckNodePort"] == nil, let port = oldSpec["healthCheckNodePort"] { spec["healthCheckNodePort"] = port }
        var new = new
        new["spec"] = .object(spec)
        return new
    }
}
