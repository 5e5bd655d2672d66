extension PythonRuntime {
    /// asyncio's tasks: none are read yet, on any version.
    public func asyncioTasks() -> Result<AsyncioState, PythonReadError> { .success(AsyncioState(tasks: [], runningLoops: [:], runningTasks: [:])) }
}
