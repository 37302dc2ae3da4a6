/// Polls `condition` every `interval` until it holds or `timeout` passes, then asks once more;
/// a condition that throws counts as not holding yet. Returns whether it held.
public func poll(timeout: Duration, every interval: Duration,
                 _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}
