import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's resident memory and open file descriptors, read from `/proc` when scraped.
/// Where there is no `/proc` (macOS) both are `nil`.
enum ProcessStats {
    static func residentMemoryBytes() -> Int? {
        // statm: the total and the resident size in pages, then other figures.
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Includes the descriptor that lists the folder, as every `/proc`-based collector's count does.
    static func openFileDescriptors() -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count
    }
}
