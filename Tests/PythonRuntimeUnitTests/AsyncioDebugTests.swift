import Testing

@testable import PythonRuntime

/// `_AsyncioDebug` as read from a process: accepted when it says what the tables say, refused
/// (with the field named) when any offset differs or lies outside its structure.
struct AsyncioDebugTests {
    static let builds = AsyncioLayout.all.filter { $0.taskNode != nil }.map(\.source)

    static func words(_ task: AsyncioLayout, _ layout: GeneratedLayout) -> [UInt64] {
        [task.taskSize!, task.taskName!, task.taskAwaitedBy!, task.taskIsTask!, task.taskAwaitedByIsSet!, task.taskCoro!,
         task.taskNode!, 200_000, layout.interpAsyncioTasksHead!, 2000, layout.tstateAsyncioRunningLoop!,
         layout.tstateAsyncioRunningTask!, layout.tstateAsyncioTasksHead!].map { UInt64($0) }
    }

    static func bytes(_ words: [UInt64]) -> [UInt8] { words.flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } } }

    @Test(arguments: builds)
    func acceptsWhatTheTablesSayAndRefusesTheRest(source: String) throws {
        let task = try #require(AsyncioLayout.all.first { $0.source == source })
        let layout = try #require(GeneratedLayout.best(for: PythonVersion(hex: task.hexVersion))?.0)
        let good = Self.words(task, layout)
        #expect(AsyncioReader.check(debug: Self.bytes(good), task: task, layout: layout, in: "x").failureValue == nil)
        for index in good.indices where index != 7 && index != 9 {
            var bad = good
            bad[index] &+= 8
            #expect(AsyncioReader.check(debug: Self.bytes(bad), task: task, layout: layout, in: "x").failureValue != nil, "word \(index)")
        }
        var outside = good
        outside[9] = 16  // a thread state smaller than the offsets in it
        #expect(AsyncioReader.check(debug: Self.bytes(outside), task: task, layout: layout, in: "x").failureValue != nil)
    }
}
