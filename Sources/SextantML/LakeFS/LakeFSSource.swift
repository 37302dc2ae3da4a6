// lakeFS (lakefs.io) data: `lakefs://<repository>/<ref>/<path>`. The ref (a branch, tag or commit)
// is resolved to its commit id through lakeFS's REST API (`GET /api/v1/repositories/{repository}/
// refs/{ref}/commits?amount=1`, operation logCommits of lakeFS's OpenAPI document: the newest
// commit of the ref comes first), then the object is read through lakeFS's S3 gateway at
// `s3://<repository>/<commit id>/<path>` (same endpoint, path-style, SigV4 with the lakeFS key
// pair). Reading by commit id means a branch that moves during the run cannot change the data.
import Foundation
import SextantTransport

/// A parsed `lakefs://` URI.
public struct LakeFSLocation: Sendable, Equatable {
    public var repository: String
    public var ref: String
    public var path: String

    public init(uri: String) throws {
        guard uri.hasPrefix("lakefs://") else { throw TrainerError.badInput("uri '\(uri)': expected lakefs://repository/ref/path") }
        let parts = uri.dropFirst("lakefs://".count).split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw TrainerError.badInput("uri '\(uri)': expected lakefs://repository/ref/path (a repository, a branch, tag or commit, and the object's path)")
        }
        repository = String(parts[0]); ref = String(parts[1]); path = String(parts[2])
    }
}

struct LakeFSObject {
    var location: LakeFSLocation
    var commit: String
    /// `lakefs://<repository>/<commit>/<path>`: the object by its immutable address.
    var pinnedURI: String
    var bytes: InputBytes
}

enum LakeFSSource {
    /// Resolves the ref and reads the object. `endpoint` is lakeFS's address (API and S3 gateway);
    /// the key pair is the one in `s3` (lakeFS issues one pair for both).
    static func read(uri: String, endpoint: String, s3: S3Settings) async throws -> LakeFSObject {
        let location = try LakeFSLocation(uri: uri)
        let commit = try await resolve(location, endpoint: endpoint, s3: s3)
        var gateway = s3
        gateway.endpoint = endpoint
        let key = "\(commit)/\(location.path)"
        let bytes: InputBytes
        do {
            bytes = try await DataSource.read(uri: "s3://\(location.repository)/\(key)", s3: gateway)
        } catch let e as TrainerError {
            throw TrainerError(e.kind, "data: lakeFS object '\(location.path)' at commit \(commit) (ref '\(location.ref)') of repository '\(location.repository)' cannot be read through the S3 gateway: \(e.message)")
        }
        return LakeFSObject(location: location, commit: commit, pinnedURI: "lakefs://\(location.repository)/\(commit)/\(location.path)", bytes: bytes)
    }

    static func resolve(_ location: LakeFSLocation, endpoint: String, s3: S3Settings) async throws -> String {
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/+?#"))
        func escape(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s }
        let url = "\(base)/api/v1/repositories/\(escape(location.repository))/refs/\(escape(location.ref))/commits?amount=1"
        var basic: (user: String, password: String)?
        if let key = s3.accessKeyID, let secret = s3.secretAccessKey { basic = (key, secret) }
        let tls = try s3.tls()
        let response: HTTPResponse
        do {
            response = try await HTTPClient.shared.send(HTTPRequest(method: "GET", url: url, headers: [HTTPHeader("Accept", "application/json")],
                                                                    tls: tls, basicAuth: basic))
        } catch {
            throw TrainerError.io("lakeFS: GET \(url): \(error)")
        }
        let what = "lakeFS: resolving ref '\(location.ref)' of repository '\(location.repository)' (GET \(url))"
        guard response.status == 200 else {
            let detail = String(decoding: response.body.prefix(300), as: UTF8.self)
            throw TrainerError((400..<500).contains(response.status) ? .badInput : .io, "\(what): HTTP \(response.status) \(detail)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
              let results = object["results"] as? [[String: Any]] else {
            throw TrainerError.io("\(what): the response is not a CommitList (no 'results')")
        }
        guard let id = results.first?["id"] as? String, !id.isEmpty, !id.contains("/") else {
            throw TrainerError.badInput("\(what): the ref has no commit")
        }
        return id
    }
}
