import SextantJSON

extension DevAPIHandler {
    /// `sendInitialEvents` of a watch (watch-list, KEP 3157), checked as kube-apiserver's
    /// `ValidateListOptions` does: it needs `resourceVersionMatch=NotOlderThan` and
    /// `allowWatchBookmarks=true`; `resourceVersionMatch` on a watch needs it. nil when absent.
    static func watchListOption(_ request: APIRequest, bookmarks: Bool) throws(APIError) -> Bool? {
        let match = request.query["resourceVersionMatch"] ?? ""
        var problems: [(String, String)] = []
        let initial: Bool?
        switch request.query["sendInitialEvents"] {
        case nil, ""?: initial = nil
        case "true"?: initial = true
        case "false"?: initial = false
        case let other?: throw APIError.badRequest("sendInitialEvents: invalid boolean \"\(other)\"")
        }
        if initial != nil {
            if match != "NotOlderThan" {
                problems.append(("resourceVersionMatch", "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
            }
            if !bookmarks {
                problems.append(("allowWatchBookmarks", "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"))
            }
        } else if !match.isEmpty {
            problems.append(("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
        }
        guard problems.isEmpty else {
            let message = problems.map { "\($0.0): \($0.1)" }.joined(separator: ", ")
            throw APIError(code: 422, reason: "Invalid", message: "ListOptions.meta.k8s.io \"\" is invalid: "
                + (problems.count == 1 ? message : "[\(message)]"))
        }
        return initial
    }
}
