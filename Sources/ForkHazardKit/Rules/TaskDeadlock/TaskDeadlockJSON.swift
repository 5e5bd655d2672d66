// `task-deadlock` in JSON: the `facts` of its findings (docs/json.md).

extension TaskDeadlockFacts {
    public var json: JSON {
        var object = JSONObject()
        object["pid"] = .from(process.pid)
        object["loopThread"] = loopThread.json
        object["loop"] = .hex(loop)
        object["tasks"] = .strings(tasks.map(hexAddress))
        object["cycles"] = .array(cycles.map { .strings($0.map(hexAddress)) })
        object["watchedFds"] = .array(watchedFds.map { .from($0) })
        object["otherThreads"] = .array(otherThreads.map(\.json))
        return object.json
    }
}
