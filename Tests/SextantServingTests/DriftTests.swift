import Testing
@testable import SextantServing

@Test func psiOfIdenticalDistributionsIsZero() {
    #expect(Drift.psi(expected: [10, 20, 30], actual: [1, 2, 3]) == 0)
}
