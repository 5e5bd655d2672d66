/// `lost-worker`: a pool's parent waits for a result that a dead worker took with it.
public struct LostWorkerFacts: RuleFacts {
    public var parent: ProcessRef
    public var workers: [Int32]
    public var originals: [Int32]
    public var replacements: [Int32]
    /// The pool's own threads in the parent; the first one's TID separates originals from replacements.
    public var poolThreads: [Int32]
    public var mainThread: Int32
    /// Seconds each replacement started after the first original.
    public var replacementDelays: [Double]
}
