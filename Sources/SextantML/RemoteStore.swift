// http(s):// and s3:// objects. Wired to SextantTransport once that module provides HTTPClient.
import Foundation

enum RemoteStore {
    static func get(uri: String) async throws -> Data {
        throw TrainerError.badInput("uri '\(uri)': http(s) and s3 are not available in this build yet")
    }

    static func put(_ data: Data, uri: String) async throws {
        throw TrainerError.badInput("uri '\(uri)': http(s) and s3 are not available in this build yet")
    }
}
