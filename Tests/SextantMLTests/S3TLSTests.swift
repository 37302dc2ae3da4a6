import Foundation
import Testing
@testable import SextantML
import SextantTestSupport

/// Issue 21 item 5: an HTTPS S3 endpoint is verified, with `AWS_CA_BUNDLE` (the AWS CLI's and
/// SDKs' variable) for a private CA, and never read or written unverified. The peer is moto's S3
/// server serving HTTPS with an openssl-made certificate (`moto_server --ssl-cert/--ssl-key`).
@Suite struct S3TLSTests {
    @Test func httpsEndpointIsVerifiedWithAWSCABundleAndNeverFallsBack() async throws {
        guard try Tooling.available("moto_server (pip: moto[server])", MotoS3.executable != nil),
              try Tooling.available("curl", Tooling.find("curl") != nil) else { return }
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.path)
        let moto = try await MotoS3.start(buckets: ["secure"], tls: certificates)
        defer { moto.stop() }
        let csv = Data("x,y\n1,0\n2,1\n".utf8)
        try moto.put(csv, to: "s3://secure/data/train.csv")
        let c = MotoS3.credentials
        let environment = ["AWS_ACCESS_KEY_ID": c.accessKey, "AWS_SECRET_ACCESS_KEY": c.secretKey, "AWS_REGION": c.region,
                           "AWS_ENDPOINT_URL_S3": moto.endpoint, "AWS_CA_BUNDLE": certificates.caCert]

        // With AWS_CA_BUNDLE: verified, read and written.
        let verified = S3Settings(environment: environment)
        #expect(verified.caBundle == certificates.caCert)
        let read = try await DataSource.read(uri: "s3://secure/data/train.csv", s3: verified)
        #expect(read.withBytes { Data($0) } == csv)
        try await DataSource.write(Data("{}".utf8), to: "s3://secure/out/ok.json", s3: verified)
        #expect(try moto.get("s3://secure/out/ok.json") == Data("{}".utf8))

        // Without it: a certificate error naming the endpoint's URL; a write sends nothing.
        var unverifiedEnvironment = environment
        unverifiedEnvironment["AWS_CA_BUNDLE"] = nil
        let unverified = S3Settings(environment: unverifiedEnvironment)
        do {
            _ = try await DataSource.read(uri: "s3://secure/data/train.csv", s3: unverified)
            Issue.record("a certificate from an unknown CA must be refused")
        } catch let error as TrainerError {
            #expect(error.message.contains("GET s3://secure/data/train.csv") && error.message.lowercased().contains("certificate")
                    && error.message.contains("\(moto.endpoint)/secure/data/train.csv"), "\(error.message)")
        }
        do {
            try await DataSource.write(Data("{}".utf8), to: "s3://secure/out/unverified.json", s3: unverified)
            Issue.record("a write to an unverified endpoint must fail")
        } catch let error as TrainerError {
            #expect(error.message.lowercased().contains("certificate"), "\(error.message)")
        }
        do {
            _ = try await DataSource.read(uri: "s3://secure/out/unverified.json", s3: verified)
            Issue.record("the unverified write must not have reached moto")
        } catch let error as TrainerError {
            #expect(error.kind == .badInput && error.message.contains("404"), "\(error.message)")
        }

        // A bundle that cannot be read: named, and no request without it.
        var missing = verified
        missing.caBundle = directory.file("absent.pem")
        do {
            _ = try await DataSource.read(uri: "s3://secure/data/train.csv", s3: missing)
            Issue.record("an unreadable AWS_CA_BUNDLE must fail")
        } catch let error as TrainerError {
            #expect(error.message == "AWS_CA_BUNDLE \(directory.file("absent.pem")) cannot be read", "\(error.message)")
        }
    }
}
