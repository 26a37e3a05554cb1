import LucidCore
import Testing

/// Notifications are data like errors: every kind renders in both languages with every value it mentions.
@Suite("Notification catalogue")
struct NotificationCatalogueTests {
    static let params: NotificationCatalogue.Params = [
        "device": .text("iPhone"), "country": .text("CN"), "at": .text("2026-11-25T08:00:00.000Z"), "failures": .int(5),
        "locked_until": .text("2026-11-25T08:15:00.000Z"), "how": .text("second_factor"), "valid_minutes": .int(30),
        "remaining": .int(9), "by": .text("customer"), "reason": .text("R02_account_closed"), "count": .int(2),
        "purpose": .text("unfreeze"), "amount": .int(12_345), "currency": .text("CNY"), "counterparty": .text("*lice"),
        "rail": .text("bank-a"), "direction": .text("withdrawal"), "note": .text("checked with the bank"),
        "bank": .text("ICBC"), "last4": .text("1234"),
        "risk_reason": .text("unusual_activity"), "expected_by": .text("2026-11-26T08:00:00.000Z"),
    ]

    @Test("every kind has a title and a body in English and Chinese, with no value left out", arguments: NotificationKind.allCases)
    func complete(kind: NotificationKind) {
        let en = NotificationCatalogue.render(kind, Self.params, in: .en)
        let zh = NotificationCatalogue.render(kind, Self.params, in: .zhCN)
        for text in [en.title, en.body, zh.title, zh.body] {
            #expect(!text.isEmpty && !text.contains("?"), "\(kind): \(text)")
        }
        #expect(zh.title.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) })
        #expect(!en.body.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) } || kind == .newDeviceSignIn)
    }

    @Test("a bank's reason code and a movement are told in words, in the reader's language")
    func bankWords() {
        let returned = NotificationCatalogue.render(.withdrawalReturned, Self.params, in: .en)
        #expect(returned.body == "Your withdrawal of ¥123.45 did not go through (the bank account is closed); the money is back in your wallet.")
        #expect(NotificationCatalogue.render(.withdrawalReturned, Self.params, in: .zhCN).body.contains("银行账户已销户"))
        let delayed = NotificationCatalogue.render(.bankTransferDelayed, Self.params, in: .zhCN)
        #expect(delayed.body.hasPrefix("您的提现 ¥123.45"))
        var free = Self.params
        free["reason"] = .text("cancelled by support")
        #expect(NotificationCatalogue.render(.withdrawalReturned, free, in: .en).body.contains("(cancelled by support)"), "free text stays")
        var corrected = Self.params
        corrected["direction"] = .text("credited")
        #expect(NotificationCatalogue.render(.balanceCorrected, corrected, in: .en).body
                == "After checking with the bank, ¥123.45 was credited to your wallet (checked with the bank).")
    }
}
