// `deadlock` in JSON: the `facts` of its findings (docs/json.md).

extension DeadlockFacts {
    public var json: JSON {
        var object = JSONObject()
        object["members"] = .array(members.map { member in
            var m = JSONObject()
            m["pid"] = .from(member.thread.pid)
            m["tid"] = .from(member.thread.tid)
            m["wakers"] = member.wakers.json
            return m.json
        })
        object["cycle"] = cycle.map(JSON.pids) ?? .null
        object["unwakeable"] = .array(unwakeable.map(\.json))
        object["inheritedLockWaiters"] = .array(inheritedLockWaiters.map(\.json))
        return object.json
    }
}
