import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The node's `LogHandler`: every event becomes one line, JSON or text, written with one `write`.
///
/// One write per line means lines from different threads do not interleave (the kernel keeps a
/// write to a file whole, and one to a pipe up to 4 KiB), so no lock is taken; and nothing is
/// buffered in the process, so a line is out the moment it is logged, even when the process is
/// killed next.
public struct LogLineHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let format: LogFormat
    private let output: @Sendable (String) -> Void

    /// - Parameter output: receives each rendered line; standard error unless told.
    public init(
        format: LogFormat,
        metadataProvider: Logger.MetadataProvider? = nil,
        output: @escaping @Sendable (String) -> Void = StandardError.writeLine
    ) {
        self.format = format
        self.metadataProvider = metadataProvider
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(key: String, value: Logger.MetadataValue)] = []
        let provided = metadataProvider?.get() ?? [:]
        let given = event.metadata ?? [:]
        fields.reserveCapacity(metadata.count + provided.count + given.count)
        // Later sources win: the handler's metadata, then the provider's, then the event's own.
        for (key, value) in metadata where provided[key] == nil && given[key] == nil { fields.append((key, value)) }
        for (key, value) in provided where given[key] == nil { fields.append((key, value)) }
        for (key, value) in given { fields.append((key, value)) }
        fields.sort { $0.key < $1.key }
        output(LogLine.render(
            format: format, timestamp: .now(), level: event.level, message: event.message.description,
            metadata: fields, error: event.error
        ))
    }
}

extension LogFormat {
    /// `--log-format auto`: text for a person at a terminal, JSON for everything else.
    public static func automatic(isTerminal: Bool) -> LogFormat {
        isTerminal ? .text : .json
    }

    public static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }
}

public enum StandardError {
    /// Writes `line` with as few `write` calls as the kernel allows — one, short of a signal or a
    /// full pipe. A line that cannot be written is dropped: logging must not fail the request.
    @Sendable
    public static func writeLine(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
