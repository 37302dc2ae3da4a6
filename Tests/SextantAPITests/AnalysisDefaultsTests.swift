import SextantAPI
import SextantJSON
import Testing

/// The limits the rollout logic falls back to are the CRD's published defaults (one source).
@Suite struct AnalysisDefaultsTests {
    @Test func fallbackLimitsAreTheCRDDefaults() throws {
        let analysis = try #require(SextantCRDs.canaryRollout.objectSchema.property("spec")?.property("analysis"))
        let failure = try #require(analysis.property("failureLimit")?.defaultValue?.intValue, "failureLimit lost its schema default")
        let errors = try #require(analysis.property("consecutiveErrorLimit")?.defaultValue?.intValue,
                                  "consecutiveErrorLimit lost its schema default")
        #expect(AnalysisSpec.defaultFailureLimit == Int(failure) && failure >= 1)
        #expect(AnalysisSpec.defaultConsecutiveErrorLimit == Int(errors) && errors >= 1)
        var spec = AnalysisSpec()
        #expect(spec.effectiveFailureLimit == Int(failure))
        spec.failureLimit = 2
        spec.consecutiveErrorLimit = 7
        #expect(spec.effectiveFailureLimit == 2 && spec.effectiveConsecutiveErrorLimit == 7)
    }
}
