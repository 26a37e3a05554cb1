import GRDB
import GRDBSQLite

/// Direct `sqlite3_bind_*` on a GRDB-prepared statement, for the ledger's hot
/// path only. GRDB's `StatementArguments` boxes every value in an enum and
/// array; at tens of thousands of journal rows per batch that boxing costs more
/// than SQLite itself. Everything else goes through GRDB as usual.
struct RawBinding {
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    let statement: Statement
    private var handle: OpaquePointer { statement.sqliteStatement }

    init(_ statement: Statement) { self.statement = statement }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: String?) {
        guard let value else { sqlite3_bind_null(handle, index); return }
        var copy = value
        copy.withUTF8 { bytes in
            _ = bytes.withMemoryRebound(to: CChar.self) { chars in
                sqlite3_bind_text(handle, index, chars.baseAddress, Int32(chars.count), RawBinding.transient)
            }
        }
    }

    /// Runs the statement once and resets it for the next row.
    func execute(_ db: Database) throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: statement.sql)
        }
    }
}
