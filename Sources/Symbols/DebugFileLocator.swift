#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as used by `.gnu_debuglink`.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Continues a CRC over `bytes`; start with `crc: 0`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return ~c
    }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// The CRC-32 of the whole file at `path`, or nil when it cannot be read.
    public static func checksum(fileAt path: String) -> UInt32? {
        (try? FileReader(path: path)).flatMap(checksum)
    }

    /// The CRC-32 of a whole open file, or nil when it cannot be read.
    static func checksum(_ reader: FileReader) -> UInt32? {
        var crc: UInt32 = 0
        guard reader.forEachChunk({ crc = update(crc, $0) }) else { return nil }
        return crc
    }
}

/// Finds the separate debug file of a stripped module, the way GDB does:
/// by build-id under each root's `.build-id/`, then by `.gnu_debuglink` name
/// next to the module, in its `.debug/` subdirectory and under each root
/// followed by the module's directory.
///
/// A module of another mount namespace (a container) has its own debug files: with `moduleRoot`
/// set to its process's root, each place is looked at inside that root first, then on the host.
public struct DebugFileLocator: Sendable {
    /// Global debug directories, `/usr/lib/debug` by default.
    public var roots: [String]
    /// The root the module's paths are seen from.
    public var moduleRoot: FileRoot

    /// Largest debug file whose CRC is computed (4 GiB).
    static let maximumCRCBytes: Int64 = 1 << 32

    /// Creates a locator searching `roots`, in `moduleRoot` first when it is not the host's.
    public init(roots: [String] = ["/usr/lib/debug"], moduleRoot: FileRoot = .host) {
        self.roots = roots
        self.moduleRoot = moduleRoot
    }

    /// The roots to look in, in order.
    private var searchRoots: [FileRoot] { moduleRoot.isHost ? [.host] : [moduleRoot, .host] }

    /// Candidate paths for a build-id: `<root>/.build-id/ab/cdef….debug`, as seen from the
    /// module's root.
    public func buildIDPaths(for buildID: [UInt8]) -> [String] {
        guard buildID.count >= 2 else { return [] }
        let hex = hexString(buildID)
        let dir = String(hex.prefix(2)), rest = String(hex.dropFirst(2))
        return roots.map { joinPath($0, ".build-id/\(dir)/\(rest).debug") }
    }

    /// Candidate paths for a debug link name of the module at `modulePath`; none when the name is
    /// not a plain file name (a `/`, `.` or `..` would lead out of the directories searched).
    public func debugLinkPaths(for fileName: String, modulePath: String) -> [String] {
        guard !fileName.isEmpty, !fileName.contains("/"), fileName != ".", fileName != ".." else { return [] }
        var dirs = [directoryName(of: moduleRoot.isHost ? absolutePath(modulePath) : modulePath)]
        if moduleRoot.isHost, let real = realPath(modulePath) {
            let realDir = directoryName(of: real)
            if !dirs.contains(realDir) { dirs.append(realDir) }
        }
        var paths: [String] = []
        for dir in dirs {
            paths.append(joinPath(dir, fileName))
            paths.append(joinPath(dir, ".debug/" + fileName))
        }
        for root in roots {
            for dir in dirs { paths.append(joinPath(joinPath(root, dir), fileName)) }
        }
        var unique: [String] = []
        for p in paths where !unique.contains(p) { unique.append(p) }
        return unique
    }

    /// The path of `module`'s debug file with a usable `.symtab`, or nil.
    public func locate(for module: ELFFile) -> String? {
        locateFile(for: module, modulePath: module.path)?.path
    }

    /// `module`'s debug file with a usable `.symtab`, opened, or nil; `modulePath` is the module's
    /// path as seen from `moduleRoot` (for debug links next to it).
    ///
    /// A build-id match must carry the same build-id (when it has one); a debug
    /// link match must have the CRC-32 recorded in `.gnu_debuglink` and no other build-id
    /// than the module's (a file over 4 GiB: the module's build-id, without the CRC). The
    /// module itself is never returned.
    public func locateFile(for module: ELFFile, modulePath: String, loadSymbols: Bool = true) -> ELFFile? {
        if let id = module.buildID {
            for path in buildIDPaths(for: id) {
                for root in searchRoots {
                    guard let candidate = try? ELFFile(path: path, root: root, loadSymbols: loadSymbols),
                          candidate.identity != module.identity,
                          candidate.hasSymtab else { continue }
                    if let other = candidate.buildID, other != id { continue }
                    return candidate
                }
            }
        }
        if let link = module.debugLink {
            for path in debugLinkPaths(for: link.fileName, modulePath: modulePath) {
                for root in searchRoots {
                    // One open file for every check and the symbols: what is checked is what is read.
                    guard let reader = try? FileReader(path: path, root: root),
                          let candidate = try? ELFFile(reader: reader, path: reader.path, identity: reader.identity, loadSymbols: false),
                          candidate.identity != module.identity, candidate.hasSymtab else { continue }
                    // Different build-ids: another build. The CRC is a read of the whole file, which
                    // may be a huge sparse one: beyond the limit only equal build-ids accept it.
                    let sameBuild = module.buildID.flatMap { id in candidate.buildID.map { $0 == id } }
                    if sameBuild == false { continue }
                    if candidate.identity.size > Self.maximumCRCBytes {
                        if sameBuild != true { continue }
                    } else {
                        guard CRC32.checksum(reader) == link.crc else { continue }
                    }
                    guard loadSymbols else { return candidate }
                    return try? ELFFile(reader: reader, path: reader.path, identity: reader.identity, loadSymbols: true)
                }
            }
        }
        return nil
    }
}

// MARK: - Path helpers

func joinPath(_ a: String, _ b: String) -> String {
    let trimmedB = b.drop { $0 == "/" }
    if a.hasSuffix("/") { return a + trimmedB }
    return a + "/" + trimmedB
}

func directoryName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let dir = String(path[..<slash])
    return dir.isEmpty ? "/" : dir
}

func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return joinPath(cwd, path)
}

func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
