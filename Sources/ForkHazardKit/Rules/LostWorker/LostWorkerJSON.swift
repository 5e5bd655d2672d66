// `lost-worker` in JSON: the `facts` of its findings (docs/json.md).

extension LostWorkerFacts {
    public var json: JSON {
        var object = JSONObject()
        object["parent"] = .from(parent.pid)
        object["workers"] = .pids(workers)
        object["originals"] = .pids(originals)
        object["replacements"] = .pids(replacements)
        object["poolThreads"] = .pids(poolThreads)
        object["mainThread"] = .from(mainThread)
        return object.json
    }
}
