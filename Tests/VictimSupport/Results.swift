extension Result {
    /// The error of a failure, or nil: for `#require(result.failureValue)`.
    public var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// The bytes a string of hex digit pairs spells (`"0a1b"` → `[0x0a, 0x1b]`), for tables written in tests.
public func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}
