import Foundation
import SextantAPI
import SextantDomain
import SextantJSON

/// A Slack incoming webhook (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks):
/// `text` (the notification fallback) and Block Kit `blocks`: a header, the text, up to 10 facts
/// as section fields, a context line. Slack-compatible receivers (Mattermost, Rocket.Chat) read `text`.
public struct SlackProvider: NotificationProvider {
    public init() {}

    public func body(for n: NotificationMessage) -> JSONValue {
        let icon = n.isWarning ? ":warning:" : ":white_check_mark:"
        var blocks: [JSONValue] = [
            ["type": "header", "text": ["type": "plain_text", "text": .string(Self.cut(n.title, 150)), "emoji": true]],
            ["type": "section", "text": ["type": "mrkdwn", "text": .string(Self.cut("\(icon) \(Self.escape(n.text))", 3000))]],
        ]
        let fields = n.facts.prefix(10).map { fact -> JSONValue in
            ["type": "mrkdwn", "text": .string(Self.cut("*\(Self.escape(fact.name))*\n\(Self.escape(fact.value))", 2000))]
        }
        if !fields.isEmpty { blocks.append(["type": "section", "fields": .array(Array(fields))]) }
        blocks.append(["type": "context", "elements": [
            ["type": "mrkdwn", "text": .string(Self.cut("\(n.event.rawValue) · \(Self.escape(n.objectLabel)) · sextant", 3000))],
        ]])
        return ["text": .string(Self.cut("\(n.title): \(n.text)", 3000)), "blocks": .array(blocks)]
    }

    /// Slack's mrkdwn control characters (https://docs.slack.dev/messaging/formatting-message-text#escaping).
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func cut(_ s: String, _ limit: Int) -> String { s.count <= limit ? s : String(s.prefix(limit - 1)) + "…" }
}
