// `fork-from-threaded` in JSON: the `facts` of its findings (docs/json.md).

extension ForkFromThreadedFacts {
    public var json: JSON {
        var object = JSONObject()
        object["parent"] = .from(parent.pid)
        object["children"] = .pids(children.map(\.pid))
        object["threadsAtFork"] = .array(threadsAtFork.map(\.jsonObject.json))
        object["exitedWithoutExec"] = .bool(exitedWithoutExec)
        return object.json
    }
}
