import Foundation
import SextantAPI
import SextantDomain
import SextantJSON
import SextantKubeTypes

/// A generic JSON webhook: Sextant's own document, stable field names (docs/notifications.md).
public struct WebhookProvider: NotificationProvider {
    public init() {}

    public func body(for n: NotificationMessage) -> JSONValue {
        var facts: [String: JSONValue] = [:]
        for fact in n.facts { facts[fact.name] = .string(fact.value) }
        return [
            "id": .string(n.id),
            "event": .string(n.event.rawValue),
            "severity": n.isWarning ? "Warning" : "Normal",
            "object": ["kind": .string(n.kind), "apiVersion": .string(SextantGroup.name + "/" + SextantGroup.version),
                       "namespace": .string(n.namespace), "name": .string(n.name)],
            "title": .string(n.title),
            "text": .string(n.text),
            "facts": .object(facts),
            "time": .string(KubeTime.format(n.time)),
        ]
    }
}
