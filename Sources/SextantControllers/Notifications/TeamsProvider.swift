import Foundation
import SextantAPI
import SextantDomain
import SextantJSON

/// A Microsoft Teams workflow webhook (Power Automate / Workflows app, "When a Teams webhook
/// request is received" → "Post card in a chat or channel"), which replaced the Office 365
/// connectors' incoming webhooks: a `message` whose single attachment is an Adaptive Card
/// (`application/vnd.microsoft.card.adaptive`, schema version 1.4, which Teams renders).
public struct TeamsProvider: NotificationProvider {
    public init() {}

    public func body(for n: NotificationMessage) -> JSONValue {
        let card: JSONValue = [
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                ["type": "TextBlock", "text": .string(n.title), "weight": "Bolder", "size": "Medium", "wrap": true,
                 "color": n.isWarning ? "Attention" : "Good"],
                ["type": "TextBlock", "text": .string(n.text), "wrap": true],
                ["type": "FactSet", "facts": .array(n.facts.map { ["title": .string($0.name), "value": .string($0.value)] })],
                ["type": "TextBlock", "text": .string("\(n.event.rawValue) · \(n.objectLabel)"), "isSubtle": true,
                 "size": "Small", "wrap": true],
            ],
        ]
        return ["type": "message",
                "attachments": [["contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card]]]
    }
}
