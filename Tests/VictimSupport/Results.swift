extension Result {
    /// The error of a failure, or nil: for `#require(result.failureValue)`.
    public var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
