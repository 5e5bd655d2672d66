// `stopped` in JSON: the `facts` of its findings (docs/json.md).

extension StoppedFacts {
    public var json: JSON {
        var object = JSONObject()
        object["processes"] = .pids(processes.map(\.pid))
        object["state"] = .string(state.description)
        object["tracer"] = .from(tracer?.pid)
        object["waiters"] = .array(waiters.map(\.json))
        if let threads { object["threads"] = .array(threads.map(\.json)) }
        return object.json
    }
}
