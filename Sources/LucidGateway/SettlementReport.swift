#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LucidCore

/// The final state a settlement report gives a movement.
public enum SettlementState: String, Sendable, Hashable, Codable, CaseIterable {
    case settled
    case failed
}

/// One line of a rail's settlement report: what the rail says finally happened to one movement.
public struct SettlementLine: Hashable, Sendable {
    /// The UTC day the rail books the movement on (the report's day).
    public var valueDate: SettlementDay
    public var rail: RailID
    public var reference: RailReference
    public var direction: RailDirection
    /// Always positive; the direction says which way it went.
    public var amountMinorUnits: Int64
    public var currency: Currency
    public var finalState: SettlementState
    /// When the rail settled (or failed) the movement.
    public var settledAt: Timestamp
    /// The rail's own identifier of the movement.
    public var bankID: String

    public init(valueDate: SettlementDay, rail: RailID, reference: RailReference, direction: RailDirection,
                amountMinorUnits: Int64, currency: Currency, finalState: SettlementState, settledAt: Timestamp,
                bankID: String) {
        self.valueDate = valueDate
        self.rail = rail
        self.reference = reference
        self.direction = direction
        self.amountMinorUnits = amountMinorUnits
        self.currency = currency
        self.finalState = finalState
        self.settledAt = settledAt
        self.bankID = bankID
    }

    public var amount: Money { Money(amountMinorUnits, currency) }
}

/// The settlement report format, a CSV file per rail and UTC day.
///
/// - UTF-8, lines end with `\n` (a `\r` before it is ignored); an optional UTF-8 byte order mark.
/// - The first line is exactly `SettlementReportFormat.header`.
/// - Then one line per movement, nine fields in this order:
///   `value_date` (`YYYY-MM-DD`), `rail`, `reference`, `direction` (`topup` | `withdrawal`),
///   `amount_minor` (positive integer of minor units, at most `InputLimits.amountMax`),
///   `currency` (ISO 4217, one Lucid supports), `final_state` (`settled` | `failed`),
///   `settled_at` (RFC 3339 UTC, `2026-11-25T08:30:00.123Z`), `bank_id`.
/// - A field may be wrapped in double quotes; no field may contain a comma, a quote or a newline.
/// - Blank lines are ignored. A line longer than `GatewayLimits.reportLineBytesMax` bytes is malformed.
public enum SettlementReportFormat {
    public static let header = "value_date,rail,reference,direction,amount_minor,currency,final_state,settled_at,bank_id"
    public static let fieldCount = 9

    /// The CSV text of one line, without the newline.
    public static func render(_ line: SettlementLine) -> String {
        "\(line.valueDate),\(line.rail),\(line.reference),\(line.direction.rawValue),\(line.amountMinorUnits),"
            + "\(line.currency.code),\(line.finalState.rawValue),\(line.settledAt.rfc3339),\(line.bankID)"
    }
}

/// Writes a settlement report through a buffer, a line at a time.
public final class SettlementReportWriter {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private let flushBytes = 256 * 1024
    private var closed = false
    /// Bytes written so far, header included.
    public private(set) var bytesWritten: Int64 = 0
    /// Data lines written so far.
    public private(set) var linesWritten = 0

    /// Creates (or truncates) `path` and writes the header line.
    public init(path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw FileError.cannotOpen(path, errno) }
        self.descriptor = descriptor
        buffer.reserveCapacity(flushBytes + 1024)
        try writeRaw(SettlementReportFormat.header)
    }

    deinit {
        if !closed { _ = close(descriptor) }
    }

    public func write(_ line: SettlementLine) throws {
        try writeRaw(SettlementReportFormat.render(line))
        linesWritten += 1
    }

    /// Writes one line of text as is (tests use it to write malformed lines).
    public func writeRaw(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0a)
        if buffer.count >= flushBytes { try flush() }
    }

    /// Flushes and closes the file.
    public func finish() throws {
        guard !closed else { return }
        try flush()
        closed = true
        guard close(descriptor) == 0 else { throw FileError.cannotWrite(errno) }
    }

    private func flush() throws {
        var offset = 0
        try buffer.withUnsafeBytes { raw in
            while offset < raw.count {
                let written = writeDescriptor(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileError.cannotWrite(errno)
                }
                offset += written
            }
        }
        bytesWritten += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Failures of the local file system, reported to operators with the errno.
public enum FileError: Error, Hashable, Sendable, CustomStringConvertible {
    case cannotOpen(String, Int32)
    case cannotRead(Int32)
    case cannotWrite(Int32)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): return "cannot open \(path) (errno \(code))"
        case .cannotRead(let code): return "read failed (errno \(code))"
        case .cannotWrite(let code): return "write failed (errno \(code))"
        }
    }
}

/// One row the reader produced: a valid line or a malformed one, with its 1-based line number
/// (the header is line 1).
public enum SettlementRow: Hashable, Sendable {
    case line(SettlementLine, lineNumber: Int)
    case malformed(lineNumber: Int, reason: String)
}

/// Reads a settlement report of any size with bounded memory: fixed-size chunks from
/// the file descriptor, one line at a time, never the whole file.
///
/// A malformed line is returned as `.malformed` with its line number and reading goes
/// on; only a missing or wrong header, or an I/O error, stops it.
public final class SettlementReportReader: Sequence, IteratorProtocol {
    private let descriptor: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var endOfFile = false
    private var closed = false
    /// Number of the line last returned (the header is line 1).
    public private(set) var lineNumber = 1
    /// Bytes read so far.
    public private(set) var bytesRead: Int64 = 0
    private var failure: FileError?
    private let lineBytesMax: Int
    // Small caches: a report repeats its rail, day and currency on every line.
    private var cachedRail: (bytes: [UInt8], value: RailID)?
    private var cachedDay: (bytes: [UInt8], value: SettlementDay)?

    /// Opens `path` and checks the header line; throws `settlement_report_invalid` when it is not a report.
    public init(path: String, chunkBytes: Int = 256 * 1024, lineBytesMax: Int = GatewayLimits.reportLineBytesMax) throws {
        precondition(chunkBytes >= 2 * lineBytesMax, "a chunk must hold at least two maximal lines")
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw LucidError(.settlementReportInvalid, ["line_number": .int(0), "reason": .text("the file cannot be opened")],
                             cause: FileError.cannotOpen(path, errno).description)
        }
        self.descriptor = descriptor
        self.lineBytesMax = lineBytesMax
        buffer = [UInt8](repeating: 0, count: chunkBytes)
        try readHeader()
    }

    deinit { close() }

    /// Closes the file early (reading also closes it at the end).
    public func close() {
        guard !closed else { return }
        closed = true
        _ = closeDescriptor(descriptor)
    }

    private func readHeader() throws {
        guard let range = try nextLineRange(), case .line(var lineStart, let lineEnd) = range else {
            throw LucidError(.settlementReportInvalid, ["line_number": .int(1),
                                                        "reason": .text("the header line is missing or too long")])
        }
        if lineEnd - lineStart >= 3, buffer[lineStart] == 0xEF, buffer[lineStart + 1] == 0xBB, buffer[lineStart + 2] == 0xBF {
            lineStart += 3
        }
        let header = String(decoding: buffer[lineStart..<lineEnd], as: UTF8.self)
        guard header == SettlementReportFormat.header else {
            throw LucidError(.settlementReportInvalid, [
                "line_number": .int(1), "reason": .text("the header is not \(SettlementReportFormat.header)"),
            ])
        }
    }

    /// The next row, or `nil` at the end of the file. I/O errors end the sequence and are
    /// reported by `finishReading()`.
    public func next() -> SettlementRow? {
        do {
            while true {
                guard let range = try nextLineRange() else { return nil }
                lineNumber += 1
                switch range {
                case .tooLong:
                    return .malformed(lineNumber: lineNumber, reason: "line longer than \(lineBytesMax) bytes")
                case .line(let lineStart, let lineEnd):
                    if lineStart == lineEnd { continue }
                    return parse(lineStart, lineEnd)
                }
            }
        } catch let error as FileError {
            failure = error
            return nil
        } catch {
            failure = .cannotRead(EIO)
            return nil
        }
    }

    /// Throws if reading stopped on an I/O error rather than at the end of the file.
    public func finishReading() throws {
        close()
        if let failure { throw failure }
    }

    private enum LineRange {
        case line(Int, Int)
        case tooLong
    }

    /// Finds the next line in the buffer, reading chunks as needed. A line that
    /// outgrows `lineBytesMax` is skipped to its end without being kept.
    private func nextLineRange() throws -> LineRange? {
        var skipping = false
        var searchFrom = start
        while true {
            if let newline = findNewline(from: searchFrom) {
                let lineStart = start
                start = newline + 1
                if skipping { return .tooLong }
                var lineEnd = newline
                if lineEnd > lineStart, buffer[lineEnd - 1] == 0x0d { lineEnd -= 1 }
                if lineEnd - lineStart > lineBytesMax { return .tooLong }
                return .line(lineStart, lineEnd)
            }
            if end - start > lineBytesMax {
                // Too long: drop what we have and keep reading until its end.
                skipping = true
                start = end
            }
            if endOfFile {
                guard end > start || skipping else { return nil }
                let lineStart = start
                start = end
                if skipping { return .tooLong }
                var lineEnd = end
                if lineEnd > lineStart, buffer[lineEnd - 1] == 0x0d { lineEnd -= 1 }
                return .line(lineStart, lineEnd)
            }
            // Move the partial line to the front and read more.
            if start > 0 {
                let count = end - start
                if count > 0 {
                    buffer.withUnsafeMutableBytes { raw in
                        _ = memmove(raw.baseAddress!, raw.baseAddress! + start, count)
                    }
                }
                end = count
                start = 0
            }
            searchFrom = end
            let capacity = buffer.count - end
            let got = buffer.withUnsafeMutableBytes { raw -> Int in
                while true {
                    let n = read(descriptor, raw.baseAddress! + end, capacity)
                    if n < 0 && errno == EINTR { continue }
                    return n
                }
            }
            if got < 0 { throw FileError.cannotRead(errno) }
            if got == 0 {
                endOfFile = true
            } else {
                end += got
                bytesRead += Int64(got)
            }
        }
    }

    private func findNewline(from index: Int) -> Int? {
        guard index < end else { return nil }
        return buffer.withUnsafeBytes { raw -> Int? in
            guard let found = memchr(raw.baseAddress! + index, 0x0a, end - index) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    // MARK: Parsing one line

    private func parse(_ lineStart: Int, _ lineEnd: Int) -> SettlementRow {
        buffer.withUnsafeBufferPointer { all in
            let bytes = UnsafeBufferPointer(rebasing: all[lineStart..<lineEnd])
            switch Self.parseFields(bytes) {
            case .failure(let reason):
                return .malformed(lineNumber: lineNumber, reason: reason)
            case .success(let fields):
                return self.build(bytes, fields)
            }
        }
    }

    private typealias Fields = (Range<Int>, Range<Int>, Range<Int>, Range<Int>, Range<Int>, Range<Int>, Range<Int>,
                                Range<Int>, Range<Int>)

    private enum FieldSplit {
        case success(Fields)
        case failure(String)
    }

    /// Splits on commas; a field may be quoted (`"…"`) but may not contain a quote.
    private static func parseFields(_ bytes: UnsafeBufferPointer<UInt8>) -> FieldSplit {
        var ranges = [Range<Int>](repeating: 0..<0, count: SettlementReportFormat.fieldCount)
        var count = 0
        var index = 0
        let n = bytes.count
        while true {
            guard count < SettlementReportFormat.fieldCount else {
                return .failure("expected \(SettlementReportFormat.fieldCount) fields, found more")
            }
            var fieldStart = index
            var fieldEnd: Int
            if index < n, bytes[index] == 0x22 {
                fieldStart = index + 1
                var close = fieldStart
                while close < n, bytes[close] != 0x22 { close += 1 }
                guard close < n else { return .failure("unterminated quote in field \(count + 1)") }
                fieldEnd = close
                index = close + 1
                guard index == n || bytes[index] == 0x2c else {
                    return .failure("a quote inside field \(count + 1)")
                }
            } else {
                while index < n, bytes[index] != 0x2c {
                    if bytes[index] == 0x22 { return .failure("a quote inside field \(count + 1)") }
                    index += 1
                }
                fieldEnd = index
            }
            ranges[count] = fieldStart..<fieldEnd
            count += 1
            if index >= n { break }
            index += 1  // the comma
            if index == n {  // trailing comma: one more, empty field
                guard count < SettlementReportFormat.fieldCount else {
                    return .failure("expected \(SettlementReportFormat.fieldCount) fields, found more")
                }
                ranges[count] = n..<n
                count += 1
                break
            }
        }
        guard count == SettlementReportFormat.fieldCount else {
            return .failure("expected \(SettlementReportFormat.fieldCount) fields, found \(count)")
        }
        return .success((ranges[0], ranges[1], ranges[2], ranges[3], ranges[4], ranges[5], ranges[6], ranges[7], ranges[8]))
    }

    private func build(_ bytes: UnsafeBufferPointer<UInt8>, _ f: Fields) -> SettlementRow {
        func bad(_ field: String, _ why: String) -> SettlementRow {
            .malformed(lineNumber: lineNumber, reason: "\(field): \(why)")
        }
        func slice(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[range]) }
        func text(_ range: Range<Int>) -> String { String(decoding: slice(range), as: UTF8.self) }
        func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
            guard range.count == literal.utf8CodeUnitCount else { return false }
            let other = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            return slice(range).elementsEqual(other)
        }

        // value_date
        let day: SettlementDay
        if let cached = cachedDay, slice(f.0).elementsEqual(cached.bytes) {
            day = cached.value
        } else {
            guard let parsed = SettlementDay(parsing: text(f.0)) else { return bad("value_date", "not a YYYY-MM-DD date") }
            cachedDay = (Array(slice(f.0)), parsed)
            day = parsed
        }
        // rail
        let rail: RailID
        if let cached = cachedRail, slice(f.1).elementsEqual(cached.bytes) {
            rail = cached.value
        } else {
            guard let parsed = RailID(parsing: text(f.1)) else { return bad("rail", "not a rail name") }
            cachedRail = (Array(slice(f.1)), parsed)
            rail = parsed
        }
        // reference
        guard let reference = RailReference(parsing: text(f.2)) else {
            return bad("reference", "empty, too long or with characters a reference cannot have")
        }
        // direction
        let direction: RailDirection
        if equals(f.3, "topup") {
            direction = .topUp
        } else if equals(f.3, "withdrawal") {
            direction = .withdrawal
        } else {
            return bad("direction", "must be topup or withdrawal")
        }
        // amount_minor
        guard f.4.count <= 18, let amount = Digits.value(slice(f.4)), amount > 0,
              amount <= InputLimits.amountMax else {
            return bad("amount_minor", "must be a positive whole number of minor units up to \(InputLimits.amountMax)")
        }
        // currency
        guard f.5.count == 3, let currency = Currency.supported.first(where: { slice(f.5).elementsEqual($0.code.utf8) }) else {
            return bad("currency", "not a supported currency")
        }
        // final_state
        let state: SettlementState
        if equals(f.6, "settled") {
            state = .settled
        } else if equals(f.6, "failed") {
            state = .failed
        } else {
            return bad("final_state", "must be settled or failed")
        }
        // settled_at
        guard let settledAt = RFC3339.parse(bytes: slice(f.7)) else {
            return bad("settled_at", "not an RFC 3339 UTC time")
        }
        // bank_id
        guard !f.8.isEmpty, f.8.count <= GatewayLimits.bankIDLengthMax,
              slice(f.8).allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return bad("bank_id", "empty, too long or not printable ASCII")
        }
        let line = SettlementLine(valueDate: day, rail: rail, reference: reference, direction: direction,
                                  amountMinorUnits: amount, currency: currency, finalState: state, settledAt: settledAt,
                                  bankID: text(f.8))
        return .line(line, lineNumber: lineNumber)
    }
}

// `close` and `write` are shadowed by methods above; these name the C functions.
@inline(__always) private func closeDescriptor(_ descriptor: Int32) -> Int32 { close(descriptor) }
@inline(__always) private func writeDescriptor(_ descriptor: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, pointer, count)
}
