// `inherited-lock` in JSON: the `facts` of its findings (docs/json.md).

extension InheritedLockFacts {
    public var json: JSON {
        var object = JSONObject()
        object["parent"] = .from(parent.pid)
        object["children"] = .pids(children.map(\.pid))
        object["waiters"] = .array(waiters.map(\.json))
        object["lock"] = lock.json
        var holder = JSONObject()
        switch self.holder {
        case .thread(let key):
            holder["kind"] = .string("thread")
            holder["pid"] = .from(key.pid)
            holder["tid"] = .from(key.tid)
        case .gone(let tid):
            holder["kind"] = .string("gone")
            holder["tid"] = .from(tid)
        case .goneInNamespace(let tid):
            holder["kind"] = .string("gone")
            holder["namespaceTid"] = .from(tid)
        case .goneIdent(let ident):
            holder["kind"] = .string("gone")
            holder["ident"] = .from(ident)
        case .unrecorded(let why, let candidates):
            holder["kind"] = .string("unrecorded")
            holder["reason"] = .string(why.rawValue)
            holder["candidates"] = .array(candidates.map(\.jsonObject.json))
        }
        object["holder"] = holder.json
        object["confirmed"] = .bool(confirmed)
        return object.json
    }
}
