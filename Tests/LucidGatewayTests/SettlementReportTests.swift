import LucidCore
import LucidGateway
import Testing

@Suite("Settlement report files")
struct SettlementReportTests {
    let day = SettlementDay(parsing: "2026-11-18")!

    func line(_ reference: String, _ amount: Int64 = 1_250, state: SettlementState = .settled) -> SettlementLine {
        SettlementLine(valueDate: day, rail: "bank-a", reference: RailReference(reference), direction: .topUp,
                       amountMinorUnits: amount, currency: .cny, finalState: state, settledAt: start, bankID: "BANKA-1")
    }

    func readAll(_ path: String, chunkBytes: Int = 256 * 1024, lineBytesMax: Int = GatewayLimits.reportLineBytesMax) throws
        -> [SettlementRow] {
        let reader = try SettlementReportReader(path: path, chunkBytes: chunkBytes, lineBytesMax: lineBytesMax)
        let rows = Array(reader)
        try reader.finishReading()
        return rows
    }

    @Test("what the writer writes the reader reads back, whatever the chunk size")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let path = folder.file("report.csv")
        let writer = try SettlementReportWriter(path: path)
        let lines = (0..<500).map { line("ref-\($0)", 1 + Int64($0), state: $0 % 7 == 0 ? .failed : .settled) }
        for line in lines { try writer.write(line) }
        try writer.finish()
        for chunk in [256, 1_000, 256 * 1024] {
            let rows = try readAll(path, chunkBytes: chunk, lineBytesMax: 128)
            #expect(rows == lines.enumerated().map { .line($0.element, lineNumber: $0.offset + 2) }, "chunk \(chunk)")
        }
    }

    @Test("a malformed file: every bad line is reported with its number, the good ones still read")
    func malformedLines() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let good = SettlementReportFormat.render(line("ref-ok"))
        let text = [
            "\u{FEFF}" + SettlementReportFormat.header,                                         // 1 (with BOM)
            good,                                                                               // 2
            "2026-11-18,bank-a,ref-2,topup,12x50,CNY,settled,2026-11-18T11:06:40.000Z,B1",      // 3
            "2026-11-18,bank-a,ref-3,sideways,1250,CNY,settled,2026-11-18T11:06:40.000Z,B1",    // 4
            "2026-11-18,bank-a,ref-4,topup,1250,CNY",                                           // 5
            "",                                                                                 // 6 (blank: ignored)
            "2026-13-01,bank-a,ref-5,topup,1250,CNY,settled,2026-11-18T11:06:40.000Z,B1",       // 7
            "2026-11-18,bank-a,ref-6,topup,1250,XXX,settled,2026-11-18T11:06:40.000Z,B1",       // 8
            "2026-11-18,bank-a,ref-7,topup,1250,CNY,lost,2026-11-18T11:06:40.000Z,B1",          // 9
            "2026-11-18,bank-a,ref-8,topup,1250,CNY,settled,yesterday,B1",                      // 10
            "2026-11-18,bank-a,\"ref-9\",topup,1250,CNY,settled,2026-11-18T11:06:40Z,B1\r",     // 11 (quoted, CRLF: fine)
            "2026-11-18,bank-a,\"ref-10,topup,1250,CNY,settled,2026-11-18T11:06:40Z,B1",        // 12
            "2026-11-18,bank-a,ref-11,topup,0,CNY,settled,2026-11-18T11:06:40Z,B1",             // 13
            "2026-11-18,bank-a,ref-12,topup,1250,CNY,settled,2026-11-18T11:06:40Z,B1,extra",    // 14
            "2026-11-18,BANK A,ref-13,topup,1250,CNY,settled,2026-11-18T11:06:40Z,B1",          // 15
            "2026-11-18,bank-a,ref-14,topup,1250,CNY,settled,2026-11-18T11:06:40Z,",            // 16
            good,                                                                               // 17 (no final newline)
        ].joined(separator: "\n")
        let rows = try readAll(try folder.write("bad.csv", text))
        let malformed = rows.compactMap { row -> Int? in
            if case .malformed(let number, _) = row { return number }
            return nil
        }
        #expect(malformed == [3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 16])
        let valid = rows.compactMap { row -> Int? in
            if case .line(_, let number) = row { return number }
            return nil
        }
        #expect(valid == [2, 11, 17])
        guard case .malformed(_, let reason) = rows[1] else { Issue.record("line 3"); return }
        #expect(reason.hasPrefix("amount_minor:"))
        guard case .malformed(_, let fields) = rows[3] else { Issue.record("line 5"); return }
        #expect(fields == "expected 9 fields, found 6")
    }

    @Test("a line longer than the limit is reported and skipped without being buffered")
    func longLine() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let huge = String(repeating: "x", count: 100_000)
        let text = SettlementReportFormat.header + "\n" + huge + "\n" + SettlementReportFormat.render(line("ref-1")) + "\n" + huge
        let rows = try readAll(try folder.write("long.csv", text), chunkBytes: 8_192, lineBytesMax: 1_024)
        #expect(rows.count == 3)
        #expect(rows[0] == .malformed(lineNumber: 2, reason: "line longer than 1024 bytes"))
        #expect(rows[1] == .line(line("ref-1"), lineNumber: 3))
        #expect(rows[2] == .malformed(lineNumber: 4, reason: "line longer than 1024 bytes"))
    }

    @Test("a file that is not a report is refused with settlement_report_invalid", arguments: [
        "", "date,amount\n2026-11-18,5\n", String(repeating: "y", count: 10_000),
    ])
    func notAReport(text: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let path = try folder.write("x.csv", text)
        #expect(throws: LucidError.self) { try SettlementReportReader(path: path) }
        do { _ = try SettlementReportReader(path: path) } catch let error as LucidError {
            #expect(error.code == .settlementReportInvalid && error.params["line_number"] == .int(1))
        }
        do { _ = try SettlementReportReader(path: folder.file("missing.csv")) } catch let error as LucidError {
            #expect(error.code == .settlementReportInvalid && error.params["line_number"] == .int(0))
        }
    }

    @Test("a header-only report has no lines")
    func empty() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        #expect(try readAll(try folder.write("e.csv", SettlementReportFormat.header + "\r\n")).isEmpty)
    }
}
