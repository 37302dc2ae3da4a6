import Foundation
import SextantAPI
import SextantDomain
import SextantJSON

/// How one kind of receiver wants a notification: the JSON body of one POST. Pure: delivery,
/// retries and rate limits are the `Notifier`'s, the same for every provider.
public protocol NotificationProvider: Sendable {
    func body(for notification: NotificationMessage) -> JSONValue
}

public enum NotificationProviders {
    public static func provider(_ type: NotificationProviderType) -> any NotificationProvider {
        switch type {
        case .slack: SlackProvider()
        case .msTeams: TeamsProvider()
        case .webhook: WebhookProvider()
        }
    }
}

extension NotificationMessage {
    /// Where to look: `kubectl get` of the object, for every provider's footer.
    var objectLabel: String { "\(kind) \(namespace)/\(name)" }
}
