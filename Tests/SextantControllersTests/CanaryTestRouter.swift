import Foundation
import SextantAPI
import SextantControllers
import SextantTestSupport
import Testing

/// The routers the canary end-to-end tests run against, each on real CRDs: Istio's
/// VirtualService/DestinationRule (hack/local-crds, cross-checked against Istio's own by
/// LocalCRDCrossCheckTests) and the Gateway API's own HTTPRoute (v1.6.1 standard channel in
/// ../shared/fixtures/gateway-api).
enum TestRouter: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case istio, httpRoute

    var testDescription: String { rawValue }

    /// Where the Gateway API CRDs come from (nil: Istio needs none).
    var gatewayCRDs: String? {
        switch self {
        case .istio: return nil
        case .httpRoute: return GatewayRolloutEndToEndTests.crdDirectory
        }
    }

    /// `spec.routing` of the rollout (nil: the Istio default of `createRollout`).
    var routing: RoutingSpec? {
        switch self {
        case .istio: return nil
        case .httpRoute: return CanaryEnvironment.gatewayRouting
        }
    }

    /// Creates the user's routing objects for this router.
    func createObjects(_ env: CanaryEnvironment) async throws {
        switch self {
        case .istio: try await env.createRouting()
        case .httpRoute: try await env.createGatewayRouting()
        }
    }

    /// The weights of the owned route and the versions the stable/canary destinations select.
    func traffic(_ env: CanaryEnvironment) async throws -> IstioTraffic {
        switch self {
        case .istio: return try await env.traffic()
        case .httpRoute: return try await env.gatewayTraffic()
        }
    }
}
