import Foundation

/// HTML text, built by the page functions; everything from the cluster goes through `escape`.
public struct Html: Sendable, Hashable, CustomStringConvertible {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }

    /// Escapes `& < > " '` so object names, messages and PromQL can never open a tag or attribute.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A query-string or path component, percent-encoded.
    public static func component(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}

/// The page frame: navigation, the live-update script and the CSRF token the action forms carry.
enum Layout {
    static func page(title: String, active: String, stream: String?, csrf: String, namespace: String?, body: String) -> String {
        let nav = [("rollouts", "Rollouts"), ("models", "Models"), ("training", "Training"), ("drift", "Drift")].map { path, label in
            let query = namespace.map { "?namespace=\(Html.component($0))" } ?? ""
            return "<a href=\"/\(path)\(query)\"\(active == path ? " class=\"active\"" : "")>\(label)</a>"
        }.joined()
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <meta name="csrf-token" content="\(Html.escape(csrf))">
        <title>\(Html.escape(title)) · Sextant</title><style>\(Assets.css)</style></head>
        <body><header><span class="brand">Sextant</span><nav>\(nav)</nav><span id="live" class="live"></span></header>
        <div id="flash" role="status"></div>
        <main id="main"\(stream.map { " data-stream=\"\(Html.escape($0))\"" } ?? "")>\(body)</main>
        <script>\(Assets.script)</script></body></html>
        """
    }

    /// A table with a header row; cells are HTML already.
    static func table(_ headers: [String], _ rows: [[String]], id: String? = nil, empty: String = "Nothing here.") -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(Html.escape(empty))</p>" }
        let head = headers.map { "<th>\(Html.escape($0))</th>" }.joined()
        let body = rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table\(id.map { " id=\"\($0)\"" } ?? "")><thead><tr>\(head)</tr></thead><tbody>\(body)</tbody></table>"
    }

    /// A coloured phase or outcome badge.
    static func badge(_ text: String) -> String {
        let tone: String
        switch text {
        case "Succeeded", "Pass", "Production", "Approved", "Available", "done", "Promoted": tone = "good"
        case "RolledBack", "Failed", "Fail", "Error", "Invalid", "Rejected", "GateFailed", "InvalidInput", "failed": tone = "bad"
        case "Paused", "Waiting", "NoData", "PendingApproval", "Pending", "current", "Canary", "Running": tone = "warn"
        default: tone = "neutral"
        }
        return "<span class=\"badge \(tone)\">\(Html.escape(text))</span>"
    }

    /// A page's request buttons, or, when the API server says the user may not send them, a note
    /// naming the permission instead (the buttons would only earn a 403).
    static func actions(_ verbs: [StatusRequestVerb], namespace: String, name: String, csrf: String, access: ActionAccess) -> String {
        if case .denied(let what) = access {
            let names = verbs.map { $0.verb.capitalized }.joined(separator: ", ")
            return "<p class=\"note\" id=\"actions-hidden\">\(Html.escape(names)) hidden: you may not \(Html.escape(what)) "
                + "(SelfSubjectAccessReview).</p>"
        }
        return "<div class=\"actions\">" + verbs.map { action($0, namespace: namespace, name: name, csrf: csrf) }.joined() + "</div>"
    }

    /// A POST form for one manual request, protected by the CSRF token.
    static func action(_ verb: StatusRequestVerb, namespace: String, name: String, csrf: String) -> String {
        let path = "/actions/\(verb.verb)/\(Html.component(namespace))/\(Html.component(name))"
        return "<form method=\"post\" action=\"\(path)\" class=\"action\"><input type=\"hidden\" name=\"csrf\" value=\"\(Html.escape(csrf))\">"
            + "<button type=\"submit\" id=\"action-\(verb.verb)\" data-verb=\"\(verb.verb)\">\(verb.verb.capitalized)</button></form>"
    }

    static func link(_ href: String, _ text: String) -> String { "<a href=\"\(Html.escape(href))\">\(Html.escape(text))</a>" }

    /// The namespace and label filter of the list pages.
    static func filter(path: String, namespace: String?, selector: String?) -> String {
        """
        <form class="filter" method="get" action="\(path)"><label>Namespace <input name="namespace" value="\(Html.escape(namespace ?? ""))" placeholder="all"></label>
        <label>Labels <input name="selector" value="\(Html.escape(selector ?? ""))" placeholder="app=fraud"></label><button type="submit">Filter</button></form>
        """
    }
}
