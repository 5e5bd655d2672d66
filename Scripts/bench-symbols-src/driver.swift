// Times naming frames with the Symbols module, built with -O together with its sources: the
// frames of a real stack, read from stdin as "module moduleOffset index" lines (index 0 is the
// innermost frame; the others are return addresses, looked up a byte back, as forkhazard does).
//
//   driver time N        N cold rounds (a new Symbolizer each: every table and DWARF loaded again),
//                        then N warm ones; prints milliseconds per round as JSON
//   driver dwarf-files   prints "DWARF-FILE VIRTUAL-ADDRESS" per frame, for the libdw program
#if canImport(Glibc)
import Glibc
#endif

struct Frame { var module: String; var offset: UInt64 }

func readFrames() -> [Frame] {
    var frames: [Frame] = []
    while let line = readLine() {
        let parts = line.split(separator: " ")
        guard parts.count == 3, let offset = UInt64(parts[1].dropFirst(2), radix: 16), let index = Int(parts[2]) else { continue }
        frames.append(Frame(module: String(parts[0]), offset: index > 0 ? offset - 1 : offset))
    }
    return frames
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
}

let frames = readFrames()
let arguments = CommandLine.arguments
if arguments.count >= 2 && arguments[1] == "dwarf-files" {
    let symbolizer = Symbolizer()
    for frame in frames {
        guard let module = symbolizer.symbols(for: frame.module),
              let address = module.module.virtualAddress(forFileOffset: frame.offset) else { continue }
        let file = DWARFSections(module.module) != nil ? module.module.path
            : DebugFileLocator().locateFile(for: module.module, modulePath: frame.module, loadSymbols: false)?.path
        if let file { print(file, "0x" + String(address, radix: 16)) }
    }
    exit(0)
}

let rounds = arguments.count >= 3 ? Int(arguments[2]) ?? 10 : 10
var coldNames: [Double] = [], coldLines: [Double] = [], warmNames: [Double] = [], warmLines: [Double] = []
var named = 0, lined = 0
for _ in 0..<rounds {
    // Names only, from a fresh symbolizer: symbol tables loaded, no DWARF read.
    let fresh = Symbolizer()
    var t = now()
    for frame in frames { _ = fresh.symbols(for: frame.module)?.symbolize(fileOffset: frame.offset) }
    coldNames.append(now() - t)
    // Names and lines, from another fresh one: symbol tables and DWARF loaded.
    let both = Symbolizer()
    t = now()
    named = 0
    lined = 0
    for frame in frames {
        let module = both.symbols(for: frame.module)
        if module?.symbolize(fileOffset: frame.offset) != nil { named += 1 }
        if module?.sourceInfo(fileOffset: frame.offset)?.location != nil { lined += 1 }
    }
    coldLines.append(now() - t)
    // The same again on the loaded modules.
    t = now()
    for frame in frames { _ = both.symbols(for: frame.module)?.symbolize(fileOffset: frame.offset) }
    warmNames.append(now() - t)
    t = now()
    for frame in frames {
        let module = both.symbols(for: frame.module)
        _ = module?.symbolize(fileOffset: frame.offset)
        _ = module?.sourceInfo(fileOffset: frame.offset)
    }
    warmLines.append(now() - t)
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
print("{\"frames\": \(frames.count), \"named\": \(named), \"lined\": \(lined), "
      + "\"coldNames\": \(median(coldNames)), \"coldNamesAndLines\": \(median(coldLines)), "
      + "\"warmNames\": \(median(warmNames)), \"warmNamesAndLines\": \(median(warmLines))}")
