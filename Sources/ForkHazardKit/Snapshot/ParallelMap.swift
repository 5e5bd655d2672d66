import Dispatch

/// `transform` of every element of `items`, on as many threads as there are CPUs (one element per
/// thread at a time); the results in the order of `items`. For work that waits on the kernel (reading
/// /proc, another process's memory, files): each element's work is its own, and writes only its result.
func parallelMap<Item, Result>(_ items: [Item], _ transform: (Item) -> Result) -> [Result] {
    guard items.count > 1 else { return items.map(transform) }
    var results = [Result?](repeating: nil, count: items.count)
    results.withUnsafeMutableBufferPointer { slots in
        let slots = SendableBuffer(slots)
        withoutActuallyEscaping(transform) { transform in
            let shared = Unchecked(transform)
            items.withUnsafeBufferPointer { items in
                let items = Unchecked(items)
                DispatchQueue.concurrentPerform(iterations: items.value.count) { i in
                    slots.buffer[i] = shared.value(items.value[i])
                }
            }
        }
    }
    return results.map { $0! }
}

/// A value shared with the threads of `parallelMap`, which only read it.
private struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A buffer whose elements are written by several threads, each element by one only.
struct SendableBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}
