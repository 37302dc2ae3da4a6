import ArgumentParser
import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import Yams

/// `sextant get RESOURCE [NAME]`: lists, shows and watches any resource, like `kubectl get`.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show or watch resources of any kind (e.g. `sextant get cro -w`).")

    @OptionGroup var cluster: ClusterOptions

    @Argument(help: "Resource type: plural, singular, kind or short name (tj, mv, cro, pods, ...).")
    var resource: String

    @Argument(help: "Object name (optional).")
    var name: String?

    @Flag(name: [.customShort("A"), .long], help: "List across all namespaces.")
    var allNamespaces = false

    @Option(name: [.short, .customLong("selector")], help: "Label selector, e.g. app=model,tier!=batch.")
    var labelSelector: String?

    @Option(name: .customLong("field-selector"), help: "Field selector, e.g. metadata.name=x.")
    var fieldSelector: String?

    @Flag(name: [.short, .long], help: "After listing, watch for changes.")
    var watch = false

    @Option(name: [.short, .long], help: "Output format: table (default), wide, json, yaml or name.")
    var output: OutputFormat = .table

    enum OutputFormat: String, ExpressibleByArgument { case table, wide, json, yaml, name }

    func run() async throws {
        let client = try cluster.client()
        let descriptor = try await client.discover().resolve(resource)
        let namespace: String? = descriptor.namespaced ? (allNamespaces ? nil : cluster.namespace(for: client)) : nil
        var fieldSelector = self.fieldSelector
        if let name {
            fieldSelector = ["metadata.name=\(name)", fieldSelector].compactMap { $0 }.joined(separator: ",")
        }
        let options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector)
        let printer = Printer(format: output, descriptor: descriptor, showNamespace: namespace == nil && descriptor.namespaced)

        var resourceVersion: String
        if output == .table || output == .wide {
            let table = try await client.table(descriptor, namespace: namespace, options: options)
            resourceVersion = table.resourceVersion
            if let name, table.rows.isEmpty, !watch {
                throw ValidationError("\(descriptor) \"\(name)\" not found")
            }
            printer.printTable(table)
        } else {
            let list = try await client.listAll(descriptor, namespace: namespace, options: options,
                                                as: DynamicObject.self)
            resourceVersion = list.metadata.resourceVersion ?? ""
            if let name, list.items.isEmpty, !watch { throw ValidationError("\(descriptor) \"\(name)\" not found") }
            if let name, let only = list.items.first, !watch {
                try printer.printObject(only)
                _ = name
            } else {
                try printer.printList(list.items, kind: descriptor.kind)
            }
        }
        guard watch else { return }
        while true {
            let stream = try await client.watch(descriptor, namespace: namespace, options: WatchOptions(
                resourceVersion: resourceVersion, labelSelector: labelSelector, fieldSelector: fieldSelector),
                as: DynamicObject.self)
            do {
                for try await change in stream {
                    switch change {
                    case .added(let o), .modified(let o):
                        resourceVersion = o.resourceVersion ?? resourceVersion
                        try await printer.printChange(o, type: nil, client: client, namespace: namespace)
                    case .deleted(let o):
                        resourceVersion = o.resourceVersion ?? resourceVersion
                        try await printer.printChange(o, type: "DELETED", client: client, namespace: namespace)
                    case .bookmark(let rv):
                        resourceVersion = rv
                    }
                }
            } catch let error as KubeError where error.reason == .expired {
                // History compacted: list again and continue from there.
                let list = try await client.list(descriptor, namespace: namespace, options: options, as: DynamicObject.self)
                resourceVersion = list.metadata.resourceVersion ?? ""
            }
        }
    }
}

/// A server-side table (`meta.k8s.io/v1 Table`), as kubectl shows it.
struct ResourceTable {
    struct Column { var name: String; var priority: Int }
    var columns: [Column]
    var rows: [[String]]
    var namespaces: [String]
    var resourceVersion: String
}

extension KubeClient {
    func table(_ descriptor: ResourceDescriptor, namespace: String?, options: ListOptions) async throws -> ResourceTable {
        let data = try await send(
            method: "GET", path: descriptor.path(namespace: namespace), query: options.queryItemsForTable,
            accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        let body = try JSONValue.decode(data)
        let rv = body[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        guard body["kind"]?.stringValue == "Table" else {
            // Server without table support: name and age from the plain list.
            let items = body["items"]?.arrayValue ?? []
            return ResourceTable(
                columns: [.init(name: "Name", priority: 0), .init(name: "Age", priority: 0)],
                rows: items.map { [$0[path: ["metadata", "name"]]?.stringValue ?? "",
                                   age($0[path: ["metadata", "creationTimestamp"]]?.stringValue)] },
                namespaces: items.map { $0[path: ["metadata", "namespace"]]?.stringValue ?? "" },
                resourceVersion: rv)
        }
        let columns = (body["columnDefinitions"]?.arrayValue ?? []).map {
            ResourceTable.Column(name: $0["name"]?.stringValue ?? "", priority: Int($0["priority"]?.intValue ?? 0))
        }
        var rows: [[String]] = []
        var namespaces: [String] = []
        for row in body["rows"]?.arrayValue ?? [] {
            rows.append((row["cells"]?.arrayValue ?? []).map(cellText))
            namespaces.append(row[path: ["object", "metadata", "namespace"]]?.stringValue ?? "")
        }
        return ResourceTable(columns: columns, rows: rows, namespaces: namespaces, resourceVersion: rv)
    }
}

extension ListOptions {
    var queryItemsForTable: [URLQueryItem] {
        var options = self
        options.limit = 500
        return options.queryItems + [URLQueryItem(name: "includeObject", value: "Metadata")]
    }
}

private func cellText(_ value: JSONValue) -> String {
    switch value {
    case .null: return "<none>"
    case .string(let s): return s
    case .int(let i): return String(i)
    case .double(let d): return d.rounded() == d ? String(Int64(d)) : String(d)
    case .bool(let b): return String(b)
    default: return (try? String(decoding: value.encoded(), as: UTF8.self)) ?? ""
    }
}

/// `5m`, `3h`, `2d`, as kubectl prints ages.
func age(_ timestamp: String?, now: Date = Date()) -> String {
    guard let timestamp, let date = KubeTime.parse(timestamp) else { return "<unknown>" }
    let seconds = max(0, Int(now.timeIntervalSince(date)))
    switch seconds {
    case ..<120: return "\(seconds)s"
    case ..<(120 * 60): return "\(seconds / 60)m"
    case ..<(48 * 3600): return "\(seconds / 3600)h"
    default: return "\(seconds / 86400)d"
    }
}

struct Printer {
    let format: Get.OutputFormat
    let descriptor: ResourceDescriptor
    let showNamespace: Bool

    func printTable(_ table: ResourceTable, header: Bool = true, prefix: String? = nil) {
        let visible = table.columns.indices.filter { format == .wide || table.columns[$0].priority == 0 }
        var lines: [[String]] = []
        if header {
            var head = visible.map { table.columns[$0].name.uppercased() }
            if showNamespace { head.insert("NAMESPACE", at: 0) }
            lines.append(head)
        }
        if table.rows.isEmpty && header {
            emit("No resources found.")
            return
        }
        for (i, row) in table.rows.enumerated() {
            var cells = visible.map { $0 < row.count ? row[$0] : "" }
            if showNamespace { cells.insert(table.namespaces[i], at: 0) }
            lines.append(cells)
        }
        let widths = (0..<(lines.first?.count ?? 0)).map { c in lines.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        for line in lines {
            let text = line.enumerated().map { c, cell in
                c == line.count - 1 ? cell : cell.padding(toLength: widths[c] + 3, withPad: " ", startingAt: 0)
            }.joined()
            emit((prefix ?? "") + text)
        }
    }

    func printObject(_ object: DynamicObject) throws {
        switch format {
        case .json: emit(try prettyJSON(object.raw))
        case .yaml: emit(try yaml(object.raw))
        default: emit("\(descriptor.description)/\(object.name ?? "")")
        }
    }

    func printList(_ items: [DynamicObject], kind: String) throws {
        switch format {
        case .name:
            for item in items { emit("\(descriptor.description)/\(item.name ?? "")") }
        default:
            let list: JSONValue = ["apiVersion": "v1", "kind": "List", "items": .array(items.map(\.raw))]
            try printObject(DynamicObject(list))
        }
    }

    func printChange(_ object: DynamicObject, type: String?, client: KubeClient, namespace: String?) async throws {
        switch format {
        case .table, .wide:
            // The server renders the row so printer columns match the list above.
            let options = ListOptions(fieldSelector: "metadata.name=\(object.name ?? "")")
            var table = try await client.table(descriptor, namespace: object.namespace ?? namespace, options: options)
            if table.rows.isEmpty, type == "DELETED" {
                table.rows = [[object.name ?? ""] + Array(repeating: "", count: max(0, table.columns.count - 1))]
                table.namespaces = [object.namespace ?? ""]
            }
            printTable(table, header: false, prefix: type.map { "\($0)   " })
        default:
            try printObject(object)
        }
    }
}

func prettyJSON(_ value: JSONValue) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func yaml(_ value: JSONValue) throws -> String {
    try YAMLEncoder().encode(value)
}

/// Writes a line straight to stdout: `print` buffers when stdout is a pipe or file, and a watch
/// must show each change as it happens.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
