import SextantJSON

/// Where a CanaryRollout or TrainingJob posts its important transitions (`spec.notifications`).
/// Exactly one of `url` and `secretRef`: a Slack or Teams webhook URL is itself a credential, so
/// it belongs in a Secret; an inline `url` may not carry user info (`user:password@`).
public struct NotificationTarget: Codable, Sendable, Hashable {
    public static let maxTargets = 5

    public var name: String
    public var provider: NotificationProviderType
    public var url: String?
    public var secretRef: NotificationSecretRef?
    /// Only these events; unset: every event of the kind.
    public var events: [NotificationEvent]?
    public init(name: String, provider: NotificationProviderType, url: String? = nil, secretRef: NotificationSecretRef? = nil) {
        self.name = name
        self.provider = provider
        self.url = url
        self.secretRef = secretRef
    }
}

/// A key of a Secret in the object's namespace whose value is the webhook URL.
public struct NotificationSecretRef: Codable, Sendable, Hashable {
    public var name: String
    /// Default `url`.
    public var key: String?
    public init(name: String, key: String? = nil) {
        self.name = name
        self.key = key
    }
}

public enum NotificationProviderType: String, Codable, Sendable, Hashable, CaseIterable {
    /// A Slack-compatible incoming webhook (`{"text": ..., "blocks": [...]}`; also Mattermost, Rocket.Chat).
    case slack = "Slack"
    /// A Microsoft Teams workflow webhook ("When a Teams webhook request is received"): a message with an Adaptive Card.
    case msTeams = "MSTeams"
    /// Any HTTP endpoint: Sextant's own JSON document.
    case webhook = "Webhook"
}

public enum NotificationEvent: String, Codable, Sendable, Hashable, CaseIterable {
    case rolloutStarted = "RolloutStarted", stepAdvanced = "StepAdvanced", analysisFailed = "AnalysisFailed"
    case promoted = "Promoted", rolledBack = "RolledBack", rolloutFailed = "RolloutFailed"
    case trainingStarted = "TrainingStarted", retrainTriggered = "RetrainTriggered"
    case trainingSucceeded = "TrainingSucceeded", trainingFailed = "TrainingFailed", gateFailed = "GateFailed"

    public static let rollout: [NotificationEvent] = [.rolloutStarted, .stepAdvanced, .analysisFailed, .promoted, .rolledBack, .rolloutFailed]
    public static let training: [NotificationEvent] = [.trainingStarted, .retrainTriggered, .trainingSucceeded, .trainingFailed, .gateFailed]

    public var isWarning: Bool { [.analysisFailed, .rolledBack, .rolloutFailed, .trainingFailed, .gateFailed].contains(self) }
}

/// One notification delivered (or given up on) to one target, in `status.notifications`. Its
/// `id` is derived from the object's uid and the transition, so a restarted controller that
/// finds it here does not post it again.
public struct NotificationRecord: Codable, Sendable, Hashable {
    /// Records kept, newest last: more than the notifications a status can derive at once.
    public static let limit = 64

    public var id: String
    public var target: String
    public var event: NotificationEvent
    public var time: String
    public var result: NotificationResult
    public var attempts: Int?
    public var message: String?
    public init(id: String, target: String, event: NotificationEvent, time: String, result: NotificationResult) {
        self.id = id
        self.target = target
        self.event = event
        self.time = time
        self.result = result
    }
}

public enum NotificationResult: String, Codable, Sendable, Hashable, CaseIterable {
    case sent = "Sent", failed = "Failed"
}

// MARK: Schema and validation (one definition for both kinds)

extension Schema {
    /// An inline URL: http(s), a host without user info. The same expression is checked by
    /// `validateNotifications`, so an admitted spec is never refused by the controller.
    public static let notificationURLPattern = #"^https?://[^/?#@\s]+([/?#][^\s]*)?$"#

    static func notifications(_ events: [NotificationEvent]) -> Schema {
        .array("Where to post the important transitions: Slack-compatible incoming webhooks, Microsoft Teams workflow webhooks, generic JSON webhooks (docs/notifications.md). Delivery is retried on 5xx, 429 and connection errors and rate limited per URL; a failure never holds the \(events == NotificationEvent.rollout ? "rollout" : "training") (Warning Event `NotificationFailed`). Each transition is posted once per target, also across controller restarts (recorded in `status.notifications`).",
               of: .object("A notification target. Exactly one of `url` and `secretRef`.",
                           required: ["name", "provider"],
                           rules: [.init("has(self.url) != has(self.secretRef)", message: "set exactly one of url and secretRef")], [
                "name": .string("Target name, used in status and Events.", pattern: "^[a-zA-Z][-_a-zA-Z0-9]*$", maxLength: 63,
                                sample: "team-slack"),
                "provider": .string("`Slack` (incoming webhook: `text` and Block Kit `blocks`), `MSTeams` (workflow webhook: a message with an Adaptive Card attachment), `Webhook` (Sextant's JSON document).",
                                    enum: NotificationProviderType.allCases.map(\.rawValue)),
                "url": .string("The webhook URL, for URLs that are not secret (no `user:password@`). A Slack or Teams webhook URL is a credential: use `secretRef`.",
                               pattern: notificationURLPattern, maxLength: 2048, sample: "http://alerts.monitoring.svc:8080/sextant"),
                "secretRef": .object("A Secret in this namespace holding the URL, and optionally `ca.crt` (PEM CA bundle that verifies an https URL, instead of the controller's `--webhook-ca-file`).", required: ["name"], [
                    "name": .objectName("Secret name."),
                    "key": .string("Key whose value is the URL.", default: "url", pattern: #"^[-._a-zA-Z0-9]+$"#, maxLength: 253),
                ]),
                "events": .array("Only these events. Unset: all of them.",
                                 of: .string("An event.", enum: events.map(\.rawValue)), maxItems: events.count, listType: "set"),
            ]), maxItems: NotificationTarget.maxTargets, listType: "map", mapKeys: ["name"])
    }

    static var notificationRecords: Schema {
        .array("Notifications delivered or given up on, newest last (at most \(NotificationRecord.limit)); a restarted controller posts only what is missing here.", of: .object(
            "One notification to one target.", required: ["id", "target", "event", "time", "result"], [
                "id": .string("The transition's identity: `<object>.<event>.<16 hex digits>` from the uid and the transition."),
                "target": .string("Target name."),
                "event": .string("The event.", enum: NotificationEvent.allCases.map(\.rawValue)),
                "time": .time("When it was delivered or given up on."),
                "result": .string("`Sent` (2xx), or `Failed` after the retries (see the `NotificationFailed` Event).",
                                  enum: NotificationResult.allCases.map(\.rawValue)),
                "attempts": .integer("HTTP attempts made.", min: 0),
                "message": .string("Why it failed."),
            ]), maxItems: NotificationRecord.limit)
    }
}

extension FieldChecker {
    mutating func notifications(_ targets: [NotificationTarget]?, allowed: [NotificationEvent]) {
        let targets = targets ?? []
        range(targets.count, "spec.notifications", 0, NotificationTarget.maxTargets)
        unique(targets.map(\.name), "spec.notifications")
        for (i, t) in targets.enumerated() {
            let path = "spec.notifications[\(i)]"
            require(t.name.range(of: "^[a-zA-Z][-_a-zA-Z0-9]*$", options: .regularExpression) != nil && t.name.count <= 63,
                    "\(path).name", "must start with a letter and hold letters, digits, '-' and '_' (at most 63), got \"\(t.name)\"")
            require((t.url == nil) != (t.secretRef == nil), path, "set exactly one of url and secretRef")
            if let url = t.url {
                require(url.count <= 2048 && url.range(of: Schema.notificationURLPattern, options: .regularExpression) != nil,
                        "\(path).url", "must be an http:// or https:// URL without user info, got \"\(url.prefix(80))\"")
            }
            if let ref = t.secretRef { name(ref.name, "\(path).secretRef.name", required: true) }
            for (j, e) in (t.events ?? []).enumerated() where !allowed.contains(e) {
                require(false, "\(path).events[\(j)]", "\(e.rawValue) is not an event of this kind (\(allowed.map(\.rawValue).joined(separator: ", ")))")
            }
        }
    }
}
